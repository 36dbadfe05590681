//! weir-engine: packet values, processes, lanes (links per process with credit-based backpressure),
//! the node contract and its templates, the sessions that run nodes, and channels (per-namespace
//! publish/subscribe). See ARCHITECTURE.md.

pub mod call;
pub mod channel;
mod compose;
pub mod drain;
pub mod error;
pub mod gpu;
pub mod job;
pub mod lane;
pub mod node;
pub mod observe;
pub mod packet;
pub mod process;
pub mod session;
pub mod slot;
pub mod sync;
pub mod template;
pub mod testing;
pub mod value;
mod wake;

pub use call::{call, Call, Reply};
pub use error::{Error, ErrorKind, Result};
pub use lane::Frame;
pub use node::{Input, MapNow, Node, OutPort};
pub use packet::{Origin, Packet};
pub use process::{Process, ProcessId};
pub use session::Cx;
pub use slot::{live_sessions, BoxedNode, NodeOptions, NodeRuntime, NodeSlot, Target};
pub use value::{Map, Value};

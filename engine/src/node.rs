//! The node contract. A node kind implements [`Node`]; the engine runs one session per (node, process)
//! and calls the node's handlers in order within that process, while sessions of different processes
//! run concurrently.
//!
//! A node MUST:
//! - answer every input: the engine does so from what the handler emits and returns, so a handler only
//!   has to return;
//! - keep order within a process (the engine calls handlers one at a time per process);
//! - use [`Cx::emit`] for output, which waits at the link's credit bound (backpressure).
//!
//! A node SHOULD keep per-process state in `State` (created empty for each session), not in `self`.
//! It MAY emit several packets for one input (a streaming producer: set `STREAMS` so each packet gets
//! its own lineage index). A collecting node MAY keep its last input's reply open until the input
//! ends ([`Cx::hold_reply`]), so what `on_finish` emits answers it. Hooks not implemented have default
//! bodies. A node that maps each input to one packet without waiting MAY say so ([`Node::map_now`]):
//! the session then handles a burst of inputs in one lock.

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::session::{Cx, SessionStart};
use crate::slot::NodeSlot;

/// An out port of a node: `out[i]` or `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutPort {
    Out(usize),
    Error,
}

impl OutPort {
    /// `out`, the same as `out[0]`.
    pub const OUT: OutPort = OutPort::Out(0);
}

impl std::fmt::Display for OutPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutPort::Out(0) => f.write_str("out"),
            OutPort::Out(i) => write!(f, "out[{i}]"),
            OutPort::Error => f.write_str("error"),
        }
    }
}

/// One packet arriving on in port `port` (`in` is port 0).
#[derive(Clone, Debug)]
pub struct Input {
    pub port: usize,
    pub packet: Packet,
}

/// What [`Node::map_now`] made of an input.
pub enum MapNow {
    /// The packet to emit on `out`: the input's whole reply is that packet's.
    Out(Packet),
    /// The input failed with `error`: it goes to `error` when connected, else is the reply, as an
    /// error of `on_packet` does; `origin` is the input's (the lineage of what goes to `error`).
    Fail { error: Error, origin: Origin },
    /// Not handled here: `on_packet` gets the input.
    Wait(Input),
}

/// A node kind's behaviour. See the module docs for the contract.
pub trait Node: Send + Sync + Sized + 'static {
    /// Per-process state, created empty when a process first reaches the node.
    type State: Default + Send + 'static;

    /// True when the node emits several packets per input, each a child of the input's lineage.
    const STREAMS: bool = false;

    /// False when the node keeps the default [`Self::on_eos`], which does nothing: the session then
    /// skips the call (and its step) when a port ends.
    const ON_EOS: bool = true;

    /// True when [`Self::map_now`] handles packets (see there).
    const MAPS_NOW: bool = false;

    /// For a node that turns an input into one packet on `out` without waiting (a pass-through, a
    /// pure function of the value): handles `input` at once. When [`Self::MAPS_NOW`] is set the
    /// session calls this, in the lock it holds to find the next input, for each packet of a burst
    /// in turn, instead of polling [`Self::on_packet`] once per packet; what it gives is emitted on
    /// `out` exactly as [`Cx::emit_packet`] would (it waits for credit there when a link is at its
    /// bound). [`MapNow::Wait`] hands the input to `on_packet`, for one that has to wait on
    /// something. A panic here fails the process's work as one in `on_packet` does.
    fn map_now(&self, _state: &mut Self::State, _process: &Arc<Process>, input: Input) -> MapNow {
        MapNow::Wait(input)
    }

    /// Handles one packet. What it emits on `out` (or, with `out` unconnected, the emitted values
    /// themselves) becomes the input's reply; an error goes to `error` when connected, else is the reply.
    fn on_packet(
        &self,
        state: &mut Self::State,
        cx: &mut Cx,
        input: Input,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Called when in port `port` reaches end-of-stream in this process.
    fn on_eos(
        &self,
        _state: &mut Self::State,
        _cx: &mut Cx,
        _port: usize,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Called once when every in port has ended in this process, before the node's outputs end.
    fn on_finish(&self, _state: &mut Self::State, _cx: &mut Cx) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Called when the node is loaded into a running graph, after everything downstream of it. `slot`
    /// is the node's own place: a source (a listener) starts processes by writing into it.
    fn on_load(&self, _slot: &Arc<NodeSlot>) -> Result<()> {
        Ok(())
    }

    /// Called when the node is unloaded (its sessions may still be finishing).
    fn on_unload(&self) {}
}

/// The erased form of [`Node`] that the wiring stores.
pub trait DynNode: Send + Sync + 'static {
    /// Starts a session task for one process.
    fn start(self: Arc<Self>, start: SessionStart);
    fn load(&self, slot: &Arc<NodeSlot>) -> Result<()>;
    fn unload(&self);
}

impl<N: Node> DynNode for N {
    fn start(self: Arc<Self>, start: SessionStart) {
        tokio::spawn(crate::session::run(self, start));
    }

    fn load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        self.on_load(slot)
    }

    fn unload(&self) {
        self.on_unload()
    }
}

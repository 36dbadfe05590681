//! weir-loader: stores of resources with a change stream (`store.rs`, `memory.rs`, `sqlite.rs`),
//! and the loader (`loader.rs`) that turns a namespace's changes into `Table::apply` calls, the
//! first load being the same diff from empty. `contract.rs` is the store contract as a test kit, run
//! against every store (here and in weir-loader-mongo); `keyed.rs` the upsert rules they share.

pub mod contract;
pub mod keyed;
pub mod loader;
pub mod memory;
pub mod sqlite;
pub mod store;

pub use keyed::{resolve_id, Keyed};
pub use loader::{host_name, Loader};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use store::{Change, Event, Op, Resource, SpecStatus, Store, StoreError};

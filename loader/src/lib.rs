//! weir-loader: stores of resources with a change stream (`store.rs`, `memory.rs`, `sqlite.rs`),
//! and the loader (`loader.rs`) that turns a namespace's changes into `Table::apply` calls, the
//! first load being the same diff from empty.

mod keyed;
pub mod loader;
pub mod memory;
pub mod sqlite;
pub mod store;

pub use loader::{host_name, Loader};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use store::{Change, Event, Op, Resource, SpecStatus, Store, StoreError};

//! weir-symbols: the symbol table of one namespace. A symbol is a spec compiled into a node, placed in
//! a slot, linked to other symbols by name or id. Links to specs that do not exist yet wait and link
//! when the spec arrives. A symbol is active only when it compiled, all its links resolved, and every
//! symbol downstream of it is active; activation runs downstream first, deactivation upstream first.
//!
//! - `compile.rs`: env binding, templating and the codec call (spec → node or an error to show);
//! - `links.rs`: port names to engine ports, and resolving references;
//! - `graph.rs`: names, referrers and sources, kept per symbol so a change relinks only what it touches;
//! - `charts.rs`: the namespace's charts, bound to its Values, and the scheme they make;
//! - `activate.rs`: which symbols are active, and in what order to start and stop them;
//! - `table.rs`: the table and its `apply`, the one path for first load and hot reload.

mod activate;
mod charts;
mod compile;
mod graph;
mod links;
mod table;

pub use compile::HostEnv;
pub use table::{Hook, Status, SymbolInfo, Table};

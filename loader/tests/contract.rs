//! The store contract (`weir_loader::contract`), run against the memory and SQLite stores, each
//! check on a fresh, empty store. weir-loader-mongo runs the same suite against MongoDB.

#![allow(clippy::unwrap_used)]

use weir_loader::{contract, MemoryStore, SqliteStore};

#[test]
fn the_memory_store_keeps_the_contract() {
    contract::run(&|| Box::new(MemoryStore::new()));
}

#[test]
fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    contract::run(&|| {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("store-{}/weir.db", n.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    });
}

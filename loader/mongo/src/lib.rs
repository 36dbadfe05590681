//! weir-loader-mongo: the MongoDB store (`mongodb://…`), kept out of weir-loader so the rest of the
//! workspace builds without the driver. A replica set is required (transactions for atomic batches,
//! change streams for events). `store.rs` is the [`weir_loader::Store`] implementation,
//! `connect.rs` the URL and the replica-set check, `schema.rs` the collections, indexes and schema
//! version, `plan.rs` what an upsert batch writes, `convert.rs` resources ↔ BSON, `tracker.rs` change events → store events (the id →
//! namespace map, resume tokens, revisions), `feed.rs` the task that follows the change stream and
//! resumes it.

mod connect;
mod convert;
mod feed;
mod plan;
mod schema;
mod store;
mod tracker;

pub use connect::{redact, DEFAULT_DATABASE, REPLICA_SET_HINT, SERVER_SELECTION_TIMEOUT};
pub use schema::SCHEMA_VERSION;
pub use store::MongoStore;

//! Jobs (NodeTool's lifecycle): a job is a process started by writing inputs into entry nodes; it
//! streams events while it runs, can be reconnected to from any event on, and cancelled.
//! - `manager.rs`: [`Jobs`] and [`Job`]: start, list, inputs, cancel, retention;
//! - `log.rs`: the bounded, numbered event log and its cursors (`replay_incomplete`);
//! - `observer.rs`: engine hooks → `job_update`, `node_update`, `edge_update`, `output_update`,
//!   `node_progress`, `log_update` and `chunk` events with NodeTool's field names.

pub mod log;
pub mod manager;
pub mod observer;

pub use log::{Cursor, EventJson, EventLog, Item};
pub use manager::{Job, JobEntry, JobError, JobStatus, Jobs, JobsConfig};
pub use observer::JobObserver;

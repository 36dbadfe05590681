//! The `io` family of node kinds: `print` (write formatted payloads to a file or stdout), `scan` (read
//! values from a file by a Go scan format), `sql` (SQLite and PostgreSQL, one transaction per process)
//! and `file` (read and write files under a root).
//!
//! None of them opens the store's own files outside the `system` namespace (`weir_codecs::guard`).

use weir_codecs::codec::Scheme;

pub mod file;
pub mod print;
pub mod scan;
pub mod scanf;
pub mod sql;
pub mod sql_params;
mod sql_postgres;
mod sql_sqlite;

pub use file::{File, FileKind};
pub use print::{Print, PrintKind};
pub use scan::{Scan, ScanKind};
pub use sql::{Sql, SqlKind};

/// Registers the `io` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(PrintKind);
    scheme.register(ScanKind);
    scheme.register(SqlKind);
    scheme.register(FileKind);
}

//! The `io` family of node kinds: `print` (write formatted payloads to a file or stdout).

use weir_codecs::codec::Scheme;

pub mod print;

pub use print::{Print, PrintKind};

/// Registers the `io` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(PrintKind);
}

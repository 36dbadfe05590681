//! The `control` family of node kinds: `snippet` (run code per packet, in the [`language`]s) and
//! `nop` (answer with nothing).

use weir_codecs::codec::Scheme;

pub mod language;
pub mod nop;
pub mod snippet;

pub use nop::{Nop, NopKind};
pub use snippet::{Snippet, SnippetKind};

/// Registers the `control` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(SnippetKind);
    scheme.register(NopKind);
}

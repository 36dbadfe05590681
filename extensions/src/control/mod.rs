//! The `control` family of node kinds: `snippet` (run code per packet, in the [`language`]s), `nop`
//! (answer with nothing), `throw` (answer with an error), `sleep` (delay each packet), `cache`
//! (answer repeated payloads from an LRU), `reduce` (fold a process's packets into one value) and
//! `session` (per-process stored values joined to later packets).

use weir_codecs::codec::Scheme;

pub mod cache;
pub mod downstream;
pub mod language;
pub mod nop;
pub mod reduce;
pub mod session;
pub mod sleep;
pub mod snippet;
pub mod throw;

#[cfg(test)]
mod test_support;

pub use cache::{Cache, CacheKind};
pub use nop::{Nop, NopKind};
pub use reduce::{Reduce, ReduceKind};
pub use session::{Session, SessionKind};
pub use sleep::{Sleep, SleepKind};
pub use snippet::{Snippet, SnippetKind};
pub use throw::{Throw, ThrowKind};

/// Registers the `control` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(SnippetKind);
    scheme.register(NopKind);
    scheme.register(ThrowKind);
    scheme.register(SleepKind);
    scheme.register(CacheKind);
    scheme.register(SessionKind);
    scheme.register(ReduceKind);
}

//! The `control` family of node kinds: `snippet` (run code per packet, in the [`language`]s) and
//! `nop` (answer with nothing); flow control: `block` and `step` (inner specs as one node, see
//! [`subgraph`]), `pipe`, `fork`, `merge`, `split`, `for`, `if`, `switch`, `try`, `retry`.

use weir_codecs::codec::Scheme;

pub mod block;
pub mod condition;
pub mod r#for;
pub mod fork;
pub mod r#if;
#[cfg(test)]
mod kinds_tests;
pub mod language;
pub mod merge;
pub mod nop;
pub mod pipe;
pub mod request;
pub mod retry;
pub mod snippet;
pub mod split;
pub mod step;
pub mod subgraph;
pub mod switch;
#[cfg(test)]
pub(crate) mod testkit;
pub mod r#try;

pub use nop::{Nop, NopKind};
pub use snippet::{Snippet, SnippetKind};

/// Registers the `control` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(SnippetKind);
    scheme.register(NopKind);
    scheme.register(block::BlockKind);
    scheme.register(step::StepKind);
    scheme.register(pipe::PipeKind);
    scheme.register(fork::ForkKind);
    scheme.register(merge::MergeKind);
    scheme.register(split::SplitKind);
    scheme.register(r#for::ForKind);
    scheme.register(r#if::IfKind);
    scheme.register(switch::SwitchKind);
    scheme.register(r#try::TryKind);
    scheme.register(retry::RetryKind);
}

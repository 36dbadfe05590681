//! The `control` family of node kinds: `snippet` (run code per packet, in the [`language`]s), `nop`
//! (answer with nothing), `throw` (answer with an error), `sleep` (delay each packet), `cache`
//! (answer repeated payloads from an LRU), `reduce` (fold a process's packets into one value),
//! `session` (per-process stored values joined to later packets); flow control: `block` and `step`
//! (inner specs as one node, see [`subgraph`]), `pipe`, `fork`, `merge`, `split`, `for`, `if`,
//! `switch`, `try`, `retry`; and the nodes of charts (`chart`: a chart's specs as one node).

use std::sync::Arc;

use weir_codecs::codec::Scheme;

pub mod block;
pub mod cache;
pub mod chart;
pub mod condition;
pub mod downstream;
pub mod r#for;
pub mod fork;
pub mod r#if;
#[cfg(test)]
mod kinds_tests;
pub mod language;
pub mod merge;
pub mod nop;
pub mod pipe;
pub mod reduce;
pub mod request;
pub mod retry;
pub mod session;
pub mod sleep;
pub mod snippet;
pub mod split;
pub mod step;
pub mod subgraph;
pub mod switch;
#[cfg(test)]
pub(crate) mod testkit;
pub mod throw;
pub mod r#try;

#[cfg(test)]
mod test_support;

pub use cache::{Cache, CacheKind};
pub use nop::{Nop, NopKind};
pub use reduce::{Reduce, ReduceKind};
pub use session::{Session, SessionKind};
pub use sleep::{Sleep, SleepKind};
pub use snippet::{Snippet, SnippetKind};
pub use throw::{Throw, ThrowKind};

/// Registers the `control` kinds, and charts' nodes ([`chart::ChartNodes`]).
pub fn register(scheme: &mut Scheme) {
    scheme.set_chart_compiler(Arc::new(chart::ChartNodes));
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
    scheme.register(ThrowKind);
    scheme.register(SleepKind);
    scheme.register(CacheKind);
    scheme.register(SessionKind);
    scheme.register(ReduceKind);
}

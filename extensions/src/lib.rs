//! weir-extensions: the node kinds, one module per family (`control`, `net`, `io`, `ai`, `gpu`,
//! `system`). Each family has a `register`; [`register`] adds those that need no host services
//! (`system`'s kinds hold the host's store and channels: see [`system::register`]). `sse` is the one `text/event-stream`
//! parser, shared by the `http` and `llm` clients; `metrics` the counters `/metrics` reports. See ARCHITECTURE.md.

use weir_codecs::codec::Scheme;

pub mod ai;
pub mod control;
pub mod gpu;
pub mod io;
pub mod metrics;
pub mod net;
pub mod sse;
pub mod system;

/// Registers every built-in kind.
pub fn register(scheme: &mut Scheme) {
    ai::register(scheme);
    control::register(scheme);
    gpu::register(scheme);
    io::register(scheme);
    net::register(scheme);
}

/// A scheme with every built-in kind.
pub fn scheme() -> Scheme {
    let mut s = Scheme::new();
    register(&mut s);
    s
}

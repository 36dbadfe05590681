//! The `net` family of node kinds, following uniflow's `listener` and `router`:
//! - `listener` (`listener.rs`, `serve.rs`): an HTTP/1.1 and h2c server; each request is a root
//!   process whose payload (`http.rs`, uniflow's shape) goes out of `out`, and whose reply becomes the
//!   response, streamed as SSE or a chunked body when it has several elements;
//! - `router` (`router.rs`, `route.rs`): routes request payloads to `out[N]` by method and path.

use weir_codecs::codec::Scheme;

mod http;
mod listener;
mod route;
mod router;
mod serve;
#[cfg(test)]
mod tests;

pub use listener::{bound_addr, Listener, ListenerFields, ListenerKind, DEFAULT_GRACE, DEFAULT_MAX_BODY};
pub use router::{RouteField, Router, RouterFields, RouterKind};

/// Registers the `net` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(ListenerKind);
    scheme.register(RouterKind);
}

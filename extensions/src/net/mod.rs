//! The `net` family of node kinds, following uniflow's network nodes:
//! - `listener` (`listener.rs`, `serve.rs`): an HTTP/1.1 and h2c server, or HTTPS with `tls`
//!   (`tls.rs`); each request is a root process whose payload (`http.rs`, uniflow's shape) goes out of
//!   `out`, and whose reply becomes the response, streamed as SSE or a chunked body when it has several
//!   elements; an HTTP/1.1 upgrade can be handed to a gateway (`upgrade.rs`);
//! - `router` (`router.rs`, `route.rs`): routes request payloads to `out[N]` by method and path;
//! - `http` (`http_client.rs`, `outgoing.rs`, SSE through `crate::sse`): an HTTP client whose streamed responses are
//!   emitted chunk by chunk or event by event;
//! - `proxy` (`proxy.rs`): a round-robin reverse proxy with X-Forwarded headers;
//! - `gateway` (`gateway.rs`) and `websocket` (`websocket.rs`), sharing `ws.rs`: the WebSocket server
//!   side of a listener request and a WebSocket client.
//!
//! Outgoing connections go through `connect.rs`, which refuses the system listener to nodes outside
//! the `system` namespace. TLS uses one rustls provider, *ring* (`tls.rs`).

use weir_codecs::codec::Scheme;

mod connect;
mod gateway;
mod http;
mod http_client;
mod listener;
mod outgoing;
mod proxy;
mod route;
mod router;
mod serve;
#[cfg(test)]
mod tests;
pub mod tls;
pub(crate) mod upgrade;
mod websocket;
mod ws;

pub use connect::ConnectError;
pub use gateway::{Gateway, GatewayFields, GatewayKind};
pub use http_client::{HttpClient, HttpFields, HttpKind};
pub use listener::{bound_addr, Listener, ListenerFields, ListenerKind, DEFAULT_GRACE, DEFAULT_MAX_BODY};
pub use proxy::{Proxy, ProxyFields, ProxyKind};
pub use router::{RouteField, Router, RouterFields, RouterKind};
pub use websocket::{WebSocket, WebSocketFields, WebSocketKind};

/// Registers the `net` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(ListenerKind);
    scheme.register(RouterKind);
    scheme.register(HttpKind);
    scheme.register(ProxyKind);
    scheme.register(GatewayKind);
    scheme.register(WebSocketKind);
}

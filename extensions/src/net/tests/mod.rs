//! End-to-end tests of the `net` kinds over real sockets on 127.0.0.1 with a real HTTP client:
//! helpers here, request/response rules in `serve.rs`, streaming and shutdown in `stream.rs`.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, OutPort};

use super::listener::{Config, Listener, ListenerFields};

mod client;
mod proxy;
mod serve;
mod stream;
mod tls;
mod upstream;
mod ws;

fn scheme() -> Scheme {
    let mut s = Scheme::new();
    super::register(&mut s);
    s
}

/// Compiles `fields` as a spec of `kind` through the registered codec.
fn compile(kind: &str, fields: serde_json::Value) -> BoxedNode {
    let cx = CompileContext::new("test", kind);
    scheme()
        .get(kind)
        .expect("registered")
        .compile(&fields, &cx)
        .expect("compiles")
}

/// Installs `node` at `name` in `g` with links `(out port, target, in port)` and loads it.
fn install(g: &mut Graph, name: &str, node: BoxedNode, links: &[(OutPort, &str, usize)]) -> Arc<NodeSlot> {
    let mut rt = NodeRuntime::from_boxed(name, node.clone());
    for (port, target, in_port) in links {
        rt = rt.link(*port, &g.slot(target), *in_port);
    }
    let slot = g.slot(name);
    slot.install(rt);
    node.load(&slot).expect("loads");
    slot
}

/// A loaded listener on 127.0.0.1, port 0.
struct Server {
    listener: Listener,
    node: BoxedNode,
    addr: SocketAddr,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Builds a listener with `extra` fields over the defaults, installs it as `http` and loads it.
fn serve(g: &mut Graph, extra: serde_json::Value, links: &[(OutPort, &str, usize)]) -> Server {
    let mut fields = json!({"protocol": "http", "host": "127.0.0.1", "port": 0});
    if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    let decoded = scheme()
        .get("listener")
        .expect("registered")
        .decode(&fields)
        .expect("valid fields");
    let typed: ListenerFields = serde_json::from_value(decoded).expect("typed fields");
    let cx = CompileContext::new("test", "http");
    let listener = Listener::new(Config::from_fields(typed, &cx).expect("config"));
    let node = BoxedNode::new(listener.clone());
    let slot = install(g, "http", node.clone(), links);
    node.load(&slot).expect("binds");
    let addr = listener.local_addr().expect("bound");
    Server { listener, node, addr }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

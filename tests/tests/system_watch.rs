//! The `system` namespace's live parts end to end, with the real binary: the `?watch=true` WebSocket
//! of store changes (order, `?namespace=`, token scope), a node outside `system` refused the system
//! address, and `/metrics`.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};
use weir_tests::http::request;
use weir_tests::{temp_file, Weir};

const UP: Duration = Duration::from_secs(60);
/// Guards reads against hangs only.
const READ: Duration = Duration::from_secs(30);

const TOKENS: &str = r#"
- namespace: system
  name: token-admin
  data: {token: admin-secret}
- namespace: system
  name: token-app
  data: {token: app-secret, namespaces: [app]}
"#;

fn start_with_tokens() -> (Weir, SocketAddr) {
    let values = temp_file("watch-tokens.yaml", TOKENS);
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "-n",
        "app",
        "--from-values",
        values.to_str().unwrap(),
    ]);
    let addr = weir.listening("system/listener", UP);
    (weir, addr)
}

/// Status and JSON body (a non-JSON body as a string).
fn call(addr: SocketAddr, method: &str, path: &str, token: &str, body: Option<Json>) -> (u16, Json) {
    let auth = format!("Bearer {token}");
    let headers = vec![
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = request(addr, method, path, &headers, &body).unwrap();
    let parsed = serde_json::from_str(&r.body).unwrap_or(Json::String(r.body.clone()));
    (r.status, parsed)
}

type Socket = WebSocket<TcpStream>;

/// Opens `path` as a WebSocket with `token`; `Err(status)` when the server refuses the upgrade.
fn watch(addr: SocketAddr, path: &str, token: &str) -> Result<Socket, u16> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ)).unwrap();
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    match tungstenite::client::client(req, stream) {
        Ok((socket, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(socket)
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => Err(r.status().as_u16()),
        Err(e) => panic!("watch {path}: {e}"),
    }
}

/// The next text frame as JSON.
fn next_event(socket: &mut Socket) -> Json {
    loop {
        match socket.read().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

fn snippet(ns: &str, name: &str) -> Json {
    json!({"kind": "snippet", "namespace": ns, "name": name, "language": "text", "code": "x"})
}

#[test]
fn a_watch_websocket_receives_store_swap_and_delete_in_order_within_its_reach() {
    let (_weir, sys) = start_with_tokens();
    let admin = "admin-secret";
    let app = "app-secret";

    // Refusals first: a scoped token on another namespace, and a watch without an upgrade.
    assert_eq!(
        watch(sys, "/v1/specs?watch=true&namespace=other", app).err(),
        Some(403)
    );
    let (status, body) = call(sys, "GET", "/v1/specs?watch=true&namespace=other", app, None);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("namespace \"other\""),
        "{body}"
    );
    let (status, body) = call(sys, "GET", "/v1/specs?watch=true", admin, None);
    assert_eq!(status, 400, "a watch that is not a WebSocket upgrade: {body}");
    assert!(body["error"].as_str().unwrap().contains("WebSocket"), "{body}");
    let (status, list) = call(sys, "GET", "/v1/specs?watch=false&namespace=app", admin, None);
    assert_eq!((status, list), (200, json!([])), "watch=false lists");

    let mut everything = watch(sys, "/v1/specs?watch=true", admin).unwrap();
    let mut app_only = watch(sys, "/v1/specs?watch=true&namespace=app", admin).unwrap();
    let mut scoped = watch(sys, "/v1/specs?watch=true", app).unwrap();

    // Interleaved changes in `other` and `app`: create, patch, delete each.
    let (status, o) = call(sys, "POST", "/v1/specs", admin, Some(snippet("other", "o")));
    assert_eq!(status, 201, "{o}");
    let (status, a) = call(sys, "POST", "/v1/specs", app, Some(snippet("app", "a")));
    assert_eq!(status, 201, "{a}");
    let (o, a) = (o["id"].as_str().unwrap(), a["id"].as_str().unwrap());
    let patch = json!({"code": "y"});
    assert_eq!(
        call(
            sys,
            "PATCH",
            &format!("/v1/specs/{o}"),
            admin,
            Some(patch.clone())
        )
        .0,
        200
    );
    assert_eq!(
        call(sys, "PATCH", &format!("/v1/specs/{a}"), app, Some(patch)).0,
        200
    );
    assert_eq!(call(sys, "DELETE", &format!("/v1/specs/{o}"), admin, None).0, 204);
    assert_eq!(call(sys, "DELETE", &format!("/v1/specs/{a}"), app, None).0, 204);

    let event = |op: &str, id: &str, ns: &str| json!({"op": op, "id": id, "namespace": ns});
    let all: Vec<Json> = (0..6).map(|_| next_event(&mut everything)).collect();
    assert_eq!(
        all,
        vec![
            event("store", o, "other"),
            event("store", a, "app"),
            event("swap", o, "other"),
            event("swap", a, "app"),
            event("delete", o, "other"),
            event("delete", a, "app"),
        ]
    );
    // The app watchers' first three frames are app's three changes: `other`'s changes, which came
    // before each of them, were never sent.
    let in_app = vec![
        event("store", a, "app"),
        event("swap", a, "app"),
        event("delete", a, "app"),
    ];
    for socket in [&mut app_only, &mut scoped] {
        let got: Vec<Json> = (0..3).map(|_| next_event(socket)).collect();
        assert_eq!(got, in_app);
    }

    // Values have their own stream.
    let mut values = watch(sys, "/v1/values?watch=true&namespace=app", app).unwrap();
    let (status, v) = call(
        sys,
        "POST",
        "/v1/values",
        app,
        Some(json!({"namespace": "app", "name": "v", "data": 1})),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        next_event(&mut values),
        event("store", v["id"].as_str().unwrap(), "app")
    );
    for mut socket in [everything, app_only, scoped, values] {
        socket.close(None).unwrap();
    }
}

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
use weir_tests::{eventually, temp_file, Weir};

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
    start_in("app")
}

/// Starts weir running `namespace` (and `system`) on a memory store holding [`TOKENS`].
fn start_in(namespace: &str) -> (Weir, SocketAddr) {
    let values = temp_file("watch-tokens.yaml", TOKENS);
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "-n",
        namespace,
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

/// The value of the sample `name{labels}` in a Prometheus text body.
fn metric(text: &str, name: &str, labels: &str) -> Option<u64> {
    let key = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .map(|v| v.trim().parse().unwrap())
}

/// `/metrics` as text, checking its status and content type.
fn metrics(addr: SocketAddr, token: &str) -> String {
    let auth = format!("Bearer {token}");
    let r = request(addr, "GET", "/metrics", &[("Authorization", auth.as_str())], "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.header("Content-Type").unwrap().starts_with("text/plain"),
        "{:?}",
        r.header("Content-Type")
    );
    r.body
}

#[test]
fn an_http_node_outside_system_is_refused_the_system_address_which_sees_nothing() {
    let (mut weir, sys) = start_in("default");
    let admin = "admin-secret";
    let specs = json!([
        {"kind": "listener", "namespace": "default", "name": "front", "protocol": "http",
         "host": "127.0.0.1", "port": 0, "ports": {"out": [{"name": "reach", "port": "in"}]}},
        {"kind": "http", "namespace": "default", "name": "reach", "method": "GET",
         "url": format!("http://{sys}/healthz")}
    ]);
    let (status, body) = call(sys, "POST", "/v1/specs", admin, Some(specs));
    assert_eq!(status, 201, "{body}");
    let front = weir.listening("default/front", UP);

    let served = |text: &str| {
        metric(
            text,
            "weir_http_requests_total",
            "namespace=\"system\",listener=\"listener\"",
        )
        .unwrap()
    };
    let before = served(&metrics(sys, admin));
    for _ in 0..3 {
        let r = weir_tests::http::get(front, "/").unwrap();
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(r.body.contains("system listener"), "{}", r.body);
    }
    let after = served(&metrics(sys, admin));
    assert_eq!(
        after,
        before + 1,
        "the system listener saw only the second /metrics call, none of the refused requests"
    );
    let front_served = metric(
        &metrics(sys, admin),
        "weir_http_requests_total",
        "namespace=\"default\",listener=\"front\"",
    );
    assert_eq!(front_served, Some(3));
}

#[test]
fn metrics_count_specs_by_status_jobs_and_requests_within_the_tokens_reach() {
    let (_weir, sys) = start_with_tokens();
    let admin = "admin-secret";
    let app = "app-secret";
    let specs = json!([
        {"kind": "snippet", "namespace": "app", "name": "double", "language": "cel", "code": "self * 2"},
        {"kind": "snippet", "namespace": "app", "name": "dangling", "language": "cel", "code": "self",
         "ports": {"out": [{"name": "nowhere", "port": "in"}]}}
    ]);
    let (status, body) = call(sys, "POST", "/v1/specs", admin, Some(specs));
    assert_eq!(status, 201, "{body}");
    let text = eventually("app's specs have a status", Duration::from_secs(20), || {
        let t = metrics(sys, admin);
        (metric(&t, "weir_specs", "namespace=\"app\",status=\"active\"") == Some(1)
            && metric(&t, "weir_specs", "namespace=\"app\",status=\"inactive\"") == Some(1))
        .then_some(t)
    });
    assert!(text.contains("# TYPE weir_specs gauge"), "{text}");
    assert!(text.contains("# TYPE weir_http_requests_total counter"), "{text}");
    // The system namespace's count agrees with /v1/namespaces.
    let (_, namespaces) = call(sys, "GET", "/v1/namespaces?namespace=system", admin, None);
    let active = namespaces[0]["specs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "active")
        .count() as u64;
    assert!(active > 10, "{namespaces}");
    assert_eq!(
        metric(&text, "weir_specs", "namespace=\"system\",status=\"active\""),
        Some(active)
    );

    let (status, job) = call(
        sys,
        "POST",
        "/v1/namespaces/app/jobs",
        app,
        Some(json!({"node": "double", "input": 21})),
    );
    assert_eq!(status, 201, "{job}");
    eventually("the job is counted completed", Duration::from_secs(20), || {
        metric(
            &metrics(sys, admin),
            "weir_jobs",
            "namespace=\"app\",status=\"completed\"",
        )
        .filter(|n| *n == 1)
    });

    // Requests: each /metrics call and each /healthz counts one.
    let served = |t: &str| {
        metric(
            t,
            "weir_http_requests_total",
            "namespace=\"system\",listener=\"listener\"",
        )
        .unwrap()
    };
    let first = served(&metrics(sys, admin));
    for _ in 0..3 {
        assert_eq!(weir_tests::http::get(sys, "/healthz").unwrap().status, 200);
    }
    assert_eq!(served(&metrics(sys, admin)), first + 4);

    // A scoped token sees only its namespaces.
    let scoped = metrics(sys, app);
    assert_eq!(
        metric(&scoped, "weir_specs", "namespace=\"app\",status=\"active\""),
        Some(1)
    );
    assert!(!scoped.contains("namespace=\"system\""), "{scoped}");
}

/// Status and JSON body without a token.
fn open_call(addr: SocketAddr, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = request(addr, method, path, &[("Content-Type", "application/json")], &body).unwrap();
    let parsed = serde_json::from_str(&r.body).unwrap_or(Json::String(r.body.clone()));
    (r.status, parsed)
}

#[test]
fn a_system_namespace_written_in_uniflows_style_serves_its_api() {
    let file = weir_tests::root().join("tests/fixtures/uniflow_style_system.yaml");
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "-n",
        "system",
        "--from-specs",
        file.to_str().unwrap(),
        "-e",
        "PORT=0",
        "--system-addr",
        "127.0.0.1:0",
    ]);
    let port = weir.listening("system/listener", UP).port();
    let sys = SocketAddr::from(([127, 0, 0, 1], port));

    // A watch wired through `io` at the top level: gateway + signal (`opcode: specs.watch`) +
    // session + `self[1]`.
    let stream = TcpStream::connect(sys).unwrap();
    stream.set_read_timeout(Some(READ)).unwrap();
    let req = format!("ws://{sys}/v1/specs?watch=true")
        .into_client_request()
        .unwrap();
    let (mut watching, _) = tungstenite::client::client(req, stream).unwrap();

    // block: cel body → native specs.create → javascript 201.
    let (status, created) = open_call(sys, "POST", "/v1/specs", Some(snippet("app", "hi")));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let store = next_event(&mut watching);
    assert_eq!(
        (store["op"].as_str(), store["id"].as_str()),
        (Some("store"), Some(id.as_str()))
    );

    // The query as a list of {key: value} filters; the read answers a list.
    let (status, list) = open_call(sys, "GET", "/v1/specs?namespace=app", None);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let (status, all) = open_call(sys, "GET", "/v1/specs", None);
    assert_eq!(status, 200);
    assert!(
        all.as_array().unwrap().len() > 10,
        "an empty query reads everything"
    );

    // By id: `args.length > 1 ? args : args[0]`, and `!args` for an unknown id.
    let (status, one) = open_call(sys, "GET", &format!("/v1/specs/{id}"), None);
    assert_eq!((status, one["name"].as_str()), (200, Some("hi")), "{one}");
    let unknown = "01a20000-0000-7000-8000-000000000000";
    assert_eq!(
        open_call(sys, "GET", &format!("/v1/specs/{unknown}"), None),
        (404, json!("Not Found"))
    );
    let (status, patched) = open_call(
        sys,
        "PATCH",
        &format!("/v1/specs/{id}"),
        Some(json!({"code": "y"})),
    );
    assert_eq!((status, patched["code"].as_str()), (200, Some("y")), "{patched}");
    assert_eq!(next_event(&mut watching)["op"], "swap");

    // The listener's error port → switch on the error's category → `err.error()` in a 400 body.
    let (status, body) = open_call(sys, "POST", "/v1/specs", Some(json!("not a spec")));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not string"), "{body}");
    let (status, body) = open_call(sys, "POST", "/v1/specs", Some(snippet("app", "hi")));
    assert_eq!((status, body), (500, json!({"error": "Internal Server Error"})));

    // uniflow's `secrets.*` opcodes are Values; their data is masked when read.
    let (status, secret) = open_call(
        sys,
        "POST",
        "/v1/secrets",
        Some(json!({"namespace": "app", "name": "key", "data": "s3cret"})),
    );
    assert_eq!(
        (status, secret["data"].as_str()),
        (201, Some("s3cret")),
        "{secret}"
    );
    let (status, secrets) = open_call(sys, "GET", "/v1/secrets?namespace=app", None);
    assert_eq!(status, 200);
    assert_eq!(secrets[0]["name"], "key", "{secrets}");
    assert_ne!(secrets[0]["data"], "s3cret", "masked: {secrets}");

    assert_eq!(open_call(sys, "DELETE", &format!("/v1/specs/{id}"), None).0, 204);
    assert_eq!(next_event(&mut watching)["op"], "delete");
    assert_eq!(
        open_call(sys, "POST", "/v1/specs", Some(snippet("app", "again"))).0,
        201
    );
    assert_eq!(open_call(sys, "DELETE", "/v1/specs?namespace=app", None).0, 204);
    let (_, left) = open_call(sys, "GET", "/v1/specs?namespace=app", None);
    assert_eq!(left, json!([]));
    watching.close(None).unwrap();
}

//! The `system` namespace end to end: the real binary with its management API on port 0 (found from
//! the `listening system/listener ADDR` line), driven over real HTTP.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use weir_tests::http::request;
use weir_tests::{binary, eventually, root, temp_file, Weir};

const UP: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(20);

const TOKENS: &str = r#"
- namespace: system
  name: token-admin
  data: {token: admin-secret}
- namespace: system
  name: token-app
  data: {token: app-secret, namespaces: [app]}
- namespace: system
  name: token-fuzz
  data: {token: fuzz-secret, namespaces: [fuzz]}
"#;

fn start(extra: &[&str]) -> (Weir, SocketAddr) {
    let mut args = vec!["start", "--store", "memory://", "-n", "app"];
    args.extend_from_slice(extra);
    let mut weir = Weir::start(&args);
    let addr = weir.listening("system/listener", UP);
    (weir, addr)
}

/// Status and JSON body (a non-JSON body as a string).
fn call(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: Option<Json>) -> (u16, Json) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = request(addr, method, path, &headers, &body).unwrap();
    let parsed = serde_json::from_str(&r.body).unwrap_or(Json::String(r.body.clone()));
    (r.status, parsed)
}

fn app_specs() -> Json {
    json!([
        {"kind": "listener", "namespace": "app", "name": "l", "protocol": "http", "host": "127.0.0.1",
         "port": 0, "ports": {"out": [{"name": "hi", "port": "in"}]}},
        {"kind": "snippet", "namespace": "app", "name": "hi", "language": "text", "code": "hello"}
    ])
}

#[test]
fn specs_created_over_http_serve_and_a_patched_snippet_changes_its_answer() {
    let (mut weir, sys) = start(&[]);
    let (status, created) = call(sys, "POST", "/v1/specs", None, Some(app_specs()));
    assert_eq!(status, 201, "{created}");
    let id = created[1]["id"].as_str().unwrap().to_string();
    let app = weir.listening("app/l", UP);
    assert_eq!(weir_tests::http::get(app, "/").unwrap().body, "hello");

    let (status, patched) = call(
        sys,
        "PATCH",
        &format!("/v1/specs/{id}"),
        None,
        Some(json!({"code": "bye"})),
    );
    assert_eq!(
        (status, patched["code"].as_str()),
        (200, Some("bye")),
        "{patched}"
    );
    eventually("the patched snippet answers", SETTLE, || {
        (weir_tests::http::get(app, "/").ok()?.body == "bye").then_some(())
    });

    let (status, one) = call(sys, "GET", &format!("/v1/specs/{id}"), None, None);
    assert_eq!((status, one["name"].as_str()), (200, Some("hi")));
    let (status, list) = call(sys, "GET", "/v1/specs?namespace=app", None, None);
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(2)));
    eventually("the namespace reports its specs active", SETTLE, || {
        let (_, ns) = call(sys, "GET", "/v1/namespaces", None, None);
        let app = ns.as_array()?.iter().find(|n| n["name"] == "app")?.clone();
        app["specs"]
            .as_array()?
            .iter()
            .all(|s| s["status"] == "active")
            .then_some(())
    });

    let (status, _) = call(sys, "DELETE", &format!("/v1/specs/{id}"), None, None);
    assert_eq!(status, 204);
    let (status, body) = call(sys, "GET", &format!("/v1/specs/{id}"), None, None);
    assert_eq!(status, 404, "{body}");
    assert!(weir.stop());
}

#[test]
fn bad_input_is_400_unknown_is_404_and_a_used_name_is_409_each_with_an_error_body() {
    let (_weir, sys) = start(&[]);
    // One bad entry: 400 naming it and its field, and nothing written.
    let (status, body) = call(
        sys,
        "POST",
        "/v1/specs",
        None,
        Some(json!([
            {"kind": "snippet", "namespace": "app", "name": "good", "language": "text", "code": "x"},
            {"kind": "snippet", "namespace": "app", "name": "bad", "language": {"not": "a string"}}
        ])),
    );
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("spec \"bad\": field \"language\""), "{error}");
    let (_, list) = call(sys, "GET", "/v1/specs?namespace=app", None, None);
    assert_eq!(list, json!([]));

    let (status, body) = call(sys, "POST", "/v1/specs", None, Some(json!("not a spec")));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string());
    let (status, body) = call(sys, "GET", "/v1/specs/not-a-uuid", None, None);
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("field \"id\""), "{body}");
    let (status, _) = call(sys, "DELETE", "/v1/specs", None, None);
    assert_eq!(status, 400, "a delete without a filter is refused");

    let unknown = "01a20000-0000-7000-8000-000000000000";
    let (status, body) = call(sys, "GET", &format!("/v1/values/{unknown}"), None, None);
    assert_eq!((status, body["error"].is_string()), (404, true), "{body}");
    let (status, _) = call(
        sys,
        "PATCH",
        &format!("/v1/specs/{unknown}"),
        None,
        Some(json!({"code": "x"})),
    );
    assert_eq!(status, 404);
    let (status, _) = call(sys, "DELETE", &format!("/v1/charts/{unknown}"), None, None);
    assert_eq!(status, 404);

    let value = json!({"namespace": "app", "name": "v", "data": {"k": 1}});
    assert_eq!(call(sys, "POST", "/v1/values", None, Some(value.clone())).0, 201);
    let (status, body) = call(sys, "POST", "/v1/values", None, Some(value));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("value \"v\": field \"name\""),
        "{body}"
    );
    let (_, read) = call(sys, "GET", "/v1/values?name=v", None, None);
    assert_eq!(read[0]["data"], "******", "values are masked on read");
}

#[test]
fn tokens_guard_the_api_and_a_scoped_token_gets_403_outside_its_namespaces() {
    let values = temp_file("tokens.yaml", TOKENS);
    let db = temp_file("weir.db", "");
    std::fs::remove_file(&db).unwrap();
    let store = format!("sqlite://{}", db.display());
    let mut weir = Weir::start(&[
        "start",
        "--store",
        &store,
        "-n",
        "app",
        "--from-values",
        values.to_str().unwrap(),
    ]);
    let sys = weir.listening("system/listener", UP);
    assert_eq!(
        call(sys, "GET", "/healthz", None, None).0,
        200,
        "health needs no token"
    );
    assert_eq!(call(sys, "GET", "/v1/specs", None, None).0, 401);
    assert_eq!(call(sys, "GET", "/v1/specs", Some("wrong"), None).0, 401);

    let app = Some("app-secret");
    let (status, _) = call(sys, "POST", "/v1/specs", app, Some(app_specs()));
    assert_eq!(status, 201);
    let (status, body) = call(sys, "GET", "/v1/specs?namespace=system", app, None);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("namespace \"system\""),
        "{body}"
    );
    let (status, _) = call(
        sys,
        "POST",
        "/v1/specs",
        app,
        Some(json!({"kind": "snippet", "namespace": "other", "name": "x", "language": "text"})),
    );
    assert_eq!(status, 403);
    let (status, seen) = call(sys, "GET", "/v1/specs", app, None);
    assert_eq!(status, 200);
    assert!(
        seen.as_array().unwrap().iter().all(|s| s["namespace"] == "app"),
        "{seen}"
    );
    assert_eq!(seen.as_array().unwrap().len(), 2);
    let (_, namespaces) = call(sys, "GET", "/v1/namespaces", app, None);
    assert_eq!(namespaces.as_array().unwrap().len(), 1, "{namespaces}");

    let (status, all) = call(
        sys,
        "GET",
        "/v1/specs?namespace=system",
        Some("admin-secret"),
        None,
    );
    assert_eq!(status, 200);
    assert!(all.as_array().unwrap().len() > 10);
    assert!(weir.stop());
}

#[test]
fn a_route_added_to_system_live_answers() {
    let (_weir, sys) = start(&[]);
    let (status, _) = call(
        sys,
        "POST",
        "/v1/specs",
        None,
        Some(
            json!({"kind": "snippet", "namespace": "system", "name": "hello", "language": "text", "code": "hi from system"}),
        ),
    );
    assert_eq!(status, 201);
    let (_, routers) = call(sys, "GET", "/v1/specs?namespace=system&name=router", None, None);
    let router = &routers[0];
    let mut routes = router["routes"].as_array().unwrap().clone();
    let mut ports = router["ports"].as_object().unwrap().clone();
    let port = format!("out[{}]", routes.len());
    routes.push(json!({"method": "GET", "path": "/hello", "port": port}));
    ports.insert(port, json!([{"name": "hello", "port": "in"}]));
    let (status, body) = call(
        sys,
        "PATCH",
        &format!("/v1/specs/{}", router["id"].as_str().unwrap()),
        None,
        Some(json!({"routes": routes, "ports": ports})),
    );
    assert_eq!(status, 200, "{body}");
    eventually("the new route answers", SETTLE, || {
        let r = weir_tests::http::get(sys, "/hello").ok()?;
        (r.status == 200 && r.body == "hi from system").then_some(())
    });
    assert_eq!(
        call(sys, "GET", "/healthz", None, None).0,
        200,
        "the old routes still work"
    );
}

#[test]
fn kinds_namespaces_and_the_openapi_document_are_served() {
    let (_weir, sys) = start(&[]);
    let (status, kinds) = call(sys, "GET", "/v1/kinds?namespace=app", None, None);
    assert_eq!(status, 200);
    let syscall = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "syscall")
        .unwrap();
    assert!(syscall["schema"]["properties"]["opcode"].is_object(), "{syscall}");
    assert_eq!(syscall["ports"]["inputs"], json!(["in"]));
    let (status, doc) = call(sys, "GET", "/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/v1/specs",
        "/v1/specs/{id}",
        "/v1/values",
        "/v1/charts/{id}",
        "/v1/kinds",
        "/v1/namespaces",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let (status, ns) = call(sys, "GET", "/v1/namespaces", None, None);
    assert_eq!(status, 200);
    assert!(
        ns.as_array().unwrap().iter().any(|n| n["name"] == "system"),
        "{ns}"
    );
}

#[test]
fn a_signal_sees_its_namespaces_store_changes_only() {
    let (_weir, sys) = start(&[]);
    let log = temp_file("changes.log", "");
    let specs = json!([
        {"kind": "signal", "namespace": "app", "name": "changes", "topic": "specs",
         "ports": {"out": [{"name": "line", "port": "in"}]}},
        {"kind": "snippet", "namespace": "app", "name": "line", "language": "cel",
         "code": "['%s %s %s\\n', self.op, self.namespace, self.resource]",
         "ports": {"out": [{"name": "log", "port": "in"}]}},
        {"kind": "print", "namespace": "app", "name": "log", "filename": log.to_str().unwrap()}
    ]);
    assert_eq!(call(sys, "POST", "/v1/specs", None, Some(specs)).0, 201);
    let probe = |name: &str, ns: &str| json!({"kind": "snippet", "namespace": ns, "name": name, "language": "text", "code": "x"});
    // Changes keep coming until the signal is loaded and reports one.
    let mut n = 0;
    eventually("the signal reports a change in app", SETTLE, || {
        n += 1;
        call(
            sys,
            "POST",
            "/v1/specs",
            None,
            Some(probe(&format!("probe-{n}"), "app")),
        );
        let text = std::fs::read_to_string(&log).ok()?;
        text.contains("store app specs").then_some(())
    });
    assert_eq!(
        call(sys, "POST", "/v1/specs", None, Some(probe("elsewhere", "other"))).0,
        201
    );
    let (status, _) = call(sys, "DELETE", "/v1/specs?namespace=app&name=probe-1", None, None);
    assert_eq!(status, 204);
    eventually("the delete is reported", SETTLE, || {
        std::fs::read_to_string(&log)
            .ok()?
            .contains("delete app specs")
            .then_some(())
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("other"),
        "a signal in app saw another namespace: {text}"
    );
}

/// Runs `weir ARGS` expecting it to exit; returns (success, stderr).
fn run_to_exit(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + UP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weir {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_busy_system_address_and_an_open_address_without_a_token_are_startup_errors() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (ok, err) = run_to_exit(&["start", "--store", "memory://", "--system-addr", &addr]);
    assert!(!ok);
    assert!(err.contains(&addr) && err.contains("did not start"), "{err}");
    let (ok, err) = run_to_exit(&["start", "--store", "memory://", "--system-addr", "0.0.0.0:0"]);
    assert!(!ok);
    assert!(err.contains("access token"), "{err}");
    drop(taken);
}

mod fuzz {
    //! Malformed and random bodies against a running binary: never a 500, never a crash.

    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn json_value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            "[a-z{}\\[\\]\"':. ]{0,12}".prop_map(Json::String),
            prop::sample::select(vec![
                "fuzz", "system", "app", "snippet", "listener", "router", "out[0]", "in"
            ])
            .prop_map(|s| Json::String(s.into())),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "kind",
                        "name",
                        "namespace",
                        "id",
                        "data",
                        "code",
                        "language",
                        "ports",
                        "env",
                        "specs",
                        "routes",
                        "annotations",
                        "protocol",
                        "port",
                        "x"
                    ]),
                    inner,
                    0..6
                )
                .prop_map(|m| Json::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    /// A resource that is nearly right: a real kind, a name, the fuzz token's namespace, and random
    /// fields (so creates and updates succeed too, and schema checks meet odd values).
    fn near_resource() -> impl Strategy<Value = Json> {
        (
            prop::sample::select(vec![
                "snippet", "router", "syscall", "signal", "print", "nop", "listener", "unknown",
            ]),
            "[a-z]{1,6}",
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "language", "code", "routes", "opcode", "topic", "filename", "data", "ports", "env",
                    "id", "specs", "inbounds",
                ]),
                json_value(),
                0..4,
            ),
        )
            .prop_map(|(kind, name, fields)| {
                let mut m: serde_json::Map<String, Json> =
                    fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                m.insert("kind".into(), json!(kind));
                m.insert("name".into(), json!(name));
                m.insert("namespace".into(), json!("fuzz"));
                if kind == "listener" {
                    // Never let the fuzz bind anything: the namespace does not run, but stay safe.
                    m.insert("port".into(), json!(0));
                    m.insert("host".into(), json!("127.0.0.1"));
                }
                Json::Object(m)
            })
    }

    fn body() -> impl Strategy<Value = String> {
        prop_oneof![
            near_resource().prop_map(|j| j.to_string()),
            prop::collection::vec(near_resource(), 1..3).prop_map(|v| Json::Array(v).to_string()),
            json_value().prop_map(|j| j.to_string()),
            "[ -~]{0,40}",
            json_value().prop_map(|j| {
                let s = j.to_string();
                s[..s.len() / 2].to_string()
            }),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => prop::sample::select(vec!["/v1/specs", "/v1/values", "/v1/charts"]).prop_map(str::to_string),
            2 => any_path(),
        ]
    }

    fn any_path() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["specs", "values", "charts", "namespaces", "kinds"]),
            prop_oneof![
                Just(String::new()),
                Just("/01a20000-0000-7000-8000-000000000000".to_string()),
                "/[a-z0-9%-]{1,10}",
            ],
            prop_oneof![
                Just(String::new()),
                "\\?(namespace|name|id|unmask)=[a-z0-9%]{0,8}"
            ],
        )
            .prop_map(|(r, id, q)| format!("/v1/{r}{id}{q}"))
    }

    #[test]
    fn malformed_requests_never_get_a_500_nor_crash_the_host() {
        let values = temp_file("tokens.yaml", TOKENS);
        let (weir, sys) = start(&["--from-values", values.to_str().unwrap()]);
        let tried = AtomicUsize::new(0);
        let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
        let methods = prop::sample::select(vec!["GET", "POST", "PATCH", "DELETE", "PUT"]);
        let tokens = prop::sample::select(vec![Some("fuzz-secret"), Some("fuzz-secret"), None, Some("nope")]);
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &(methods, path(), body(), tokens),
                |(method, path, body, token)| {
                    tried.fetch_add(1, Ordering::Relaxed);
                    let auth = token.map(|t| format!("Bearer {t}"));
                    let mut headers = vec![("Content-Type", "application/json")];
                    if let Some(a) = &auth {
                        headers.push(("Authorization", a.as_str()));
                    }
                    let r = request(sys, method, &path, &headers, &body)
                        .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
                    *statuses.lock().unwrap().entry(r.status).or_default() += 1;
                    prop_assert!(
                        r.status != 500 && r.status != 0,
                        "{method} {path} {body:?} -> {} {}",
                        r.status,
                        r.body
                    );
                    Ok(())
                },
            )
            .unwrap();
        let n = tried.load(Ordering::Relaxed);
        eprintln!(
            "system API fuzz: {n} requests, no 500; statuses {:?}",
            statuses.lock().unwrap()
        );
        assert!(n >= 1000);
        assert_eq!(call(sys, "GET", "/healthz", None, None).0, 200, "still up");
        assert!(weir.stop());
    }
}

#[test]
fn a_listener_on_a_busy_port_is_reported_inactive_with_the_bind_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (_weir, sys) = start(&[]);
    let specs = json!([
        {"kind": "listener", "namespace": "app", "name": "l", "protocol": "http", "host": "127.0.0.1",
         "port": port, "ports": {"out": [{"name": "hi", "port": "in"}]}},
        {"kind": "snippet", "namespace": "app", "name": "hi", "language": "text", "code": "hello"}
    ]);
    let (status, created) = call(sys, "POST", "/v1/specs", None, Some(specs));
    assert_eq!(status, 201, "{created}");
    let listener = eventually("the listener's status is recorded", SETTLE, || {
        let (_, ns) = call(sys, "GET", "/v1/namespaces", None, None);
        let app = ns.as_array()?.iter().find(|n| n["name"] == "app")?.clone();
        let l = app["specs"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == "l")?
            .clone();
        (l["status"] != "unknown").then_some(l)
    });
    assert_eq!(listener["status"], "inactive", "{listener}");
    let error = listener["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("spec \"l\" (kind listener): load failed") && error.contains(&port.to_string()),
        "{listener}"
    );
    drop(taken);
}

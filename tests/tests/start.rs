//! `weir start` end to end: the real binary on port 0, found from its `listening` line, answering over
//! real HTTP.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use weir_tests::http::{get, request};
use weir_tests::{temp_file, Weir};

const UP: Duration = Duration::from_secs(60);

fn start(specs: &str, extra: &[&str]) -> Weir {
    let mut args = vec![
        "start",
        "--store",
        "memory://",
        "--from-specs",
        specs,
        "--env",
        "PORT=0",
    ];
    args.extend_from_slice(extra);
    Weir::start(&args)
}

#[test]
fn the_ping_example_answers_pong_and_stops_cleanly_on_sigterm() {
    let mut weir = start("examples/ping.yaml", &[]);
    let addr = weir.listening("default/listener", UP);
    let r = get(addr, "/ping").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "pong"));
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}

#[test]
fn a_json_specs_file_works_the_same() {
    let file = temp_file(
        "ping.json",
        r#"[
          {"kind": "listener", "name": "listener", "protocol": "http", "host": "127.0.0.1", "port": "{{ .PORT }}",
           "ports": {"out": [{"name": "router", "port": "in"}]}},
          {"kind": "router", "name": "router", "routes": [{"method": "GET", "path": "/ping", "port": "out[0]"}],
           "ports": {"out[0]": [{"name": "pong", "port": "in"}]}},
          {"kind": "snippet", "name": "pong", "language": "json", "code": "{\"answer\": \"pong\"}"}
        ]"#,
    );
    let mut weir = start(file.to_str().unwrap(), &["-n", "json"]);
    let addr = weir.listening("json/listener", UP);
    let r = get(addr, "/ping").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
        serde_json::json!({"answer": "pong"})
    );
}

const API: &str = r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: '{{ .PORT }}'
  ports:
    out:
      - name: router
        port: in
- kind: router
  name: router
  routes:
    - method: GET
      path: /users/:id
      port: out[0]
    - method: GET
      path: /cel
      port: out[1]
    - method: GET
      path: /throw
      port: out[2]
    - method: GET
      path: /spin
      port: out[3]
    - method: GET
      path: /ping
      port: out[4]
  ports:
    out[0]:
      - name: user
        port: in
    out[1]:
      - name: cel
        port: in
    out[2]:
      - name: throw
        port: in
    out[3]:
      - name: spin
        port: in
    out[4]:
      - name: pong
        port: in
- kind: snippet
  name: user
  language: javascript
  code: |
    export default function (args) {
      return "user " + args.params.id;
    }
- kind: snippet
  name: cel
  language: cel
  code: self.no_such_field.deeper
- kind: snippet
  name: throw
  language: javascript
  code: |
    export default function () {
      throw new Error("boom");
    }
- kind: snippet
  name: spin
  language: javascript
  timeout: 500ms
  code: |
    export default function () {
      while (true) {}
    }
- kind: snippet
  name: pong
  language: text
  code: pong
"#;

#[test]
fn routes_params_errors_and_timeouts() {
    let file = temp_file("api.yaml", API);
    let mut weir = start(file.to_str().unwrap(), &[]);
    let addr = weir.listening("default/listener", UP);

    let r = get(addr, "/users/42").unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "user 42"),
        "a path param echoed by a JavaScript snippet"
    );

    let r = get(addr, "/nowhere").unwrap();
    assert_eq!(r.status, 404);
    let r = request(addr, "DELETE", "/users/42", &[], "").unwrap();
    assert_eq!(r.status, 405);
    let allow = r.header("allow").unwrap_or_default();
    assert!(
        allow.contains("GET") && !allow.contains("DELETE"),
        "Allow: {allow}"
    );

    let r = get(addr, "/cel").unwrap();
    assert_eq!(r.status, 500, "a CEL error: {}", r.body);
    assert!(r.body.contains("no_such_field"), "{}", r.body);
    let r = get(addr, "/throw").unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("boom"),
        "a JS throw is an error, never a null result: {}",
        r.body
    );

    // A runaway script is stopped at its timeout, and other requests are served meanwhile.
    let spin = std::thread::spawn(move || {
        let started = Instant::now();
        (get(addr, "/spin").unwrap(), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..5 {
        let r = get(addr, "/ping").unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "pong"));
    }
    let (r, took) = spin.join().unwrap();
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    assert!(r.body.to_lowercase().contains("time"), "{}", r.body);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(weir.stop());
}

#[test]
fn a_value_bound_through_env_reaches_the_spec() {
    let values = temp_file("values.yaml", "- name: greeting\n  data:\n    text: bonjour\n");
    let specs = temp_file(
        "hello.yaml",
        r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: '{{ .PORT }}'
  ports:
    out:
      - name: hello
        port: in
- kind: snippet
  name: hello
  language: text
  code: '{{ .GREETING }}, world'
  env:
    GREETING:
      - name: greeting
        data: '{{ .text }}'
"#,
    );
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        specs.to_str().unwrap(),
        "--from-values",
        values.to_str().unwrap(),
        "--environment",
        "PORT=0",
    ]);
    let addr = weir.listening("default/listener", UP);
    let r = get(addr, "/").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "bonjour, world"));
}

#[test]
fn a_bad_flag_value_is_a_clear_error() {
    let weir = Weir::start(&["start", "--store", "memory://", "--env", "NOEQUALS"]);
    assert_eq!(weir.wait(Duration::from_secs(30)), Some(1));
    let weir = Weir::start(&[
        "start",
        "--store",
        "bogus://x",
        "--from-specs",
        "examples/ping.yaml",
    ]);
    assert_eq!(weir.wait(Duration::from_secs(30)), Some(1));
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_before_exit() {
    let file = temp_file(
        "slow.yaml",
        r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: '{{ .PORT }}'
  ports:
    out:
      - name: marker
        port: in
- kind: snippet
  name: marker
  language: text
  code: "in flight\n"
  ports:
    out:
      - name: say
        port: in
- kind: print
  name: say
  filename: /dev/stdout
  ports:
    out:
      - name: slow
        port: in
- kind: snippet
  name: slow
  language: javascript
  timeout: 10s
  code: |
    export default function () {
      const end = Date.now() + 1500;
      while (Date.now() < end) {}
      return "finished";
    }
"#,
    );
    let mut weir = start(file.to_str().unwrap(), &[]);
    let addr = weir.listening("default/listener", UP);
    let inflight = std::thread::spawn(move || get(addr, "/"));
    // The graph prints `in flight` before the slow part: the request is inside weir.
    weir.line(|l| l == "in flight", UP);
    let pid = weir.pid();
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let r = inflight
        .join()
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!((r.status, r.body.as_str()), (200, "finished"));
    assert_eq!(
        weir.wait(Duration::from_secs(30)),
        Some(0),
        "clean exit after the drain"
    );
    assert!(get(addr, "/").is_err(), "the port is closed");
}

#[test]
fn specs_stored_in_a_sqlite_file_serve_again_after_a_restart() {
    let db = temp_file("placeholder", "").with_file_name("weir.db");
    let store = format!("sqlite://{}", db.display());
    let mut weir = Weir::start(&[
        "start",
        "--store",
        &store,
        "--from-specs",
        "examples/ping.yaml",
        "--env",
        "PORT=0",
    ]);
    let addr = weir.listening("default/listener", UP);
    assert_eq!(get(addr, "/ping").unwrap().body, "pong");
    assert!(weir.stop());
    // No --from-specs this time: the specs come from the file.
    let mut again = Weir::start(&["start", "--store", &store, "--env", "PORT=0"]);
    let addr = again.listening("default/listener", UP);
    let r = get(addr, "/ping").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "pong"));
    assert!(again.stop());
}

//! `examples/control.yaml` end to end: a JavaScript generator streamed as SSE, a TypeScript generator
//! folded by `reduce`, a `cache` hit, and `throw`, through the real binary over real HTTP.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_tests::http::{get, open};
use weir_tests::Weir;

const UP: Duration = Duration::from_secs(60);

#[test]
fn the_control_example_streams_folds_caches_and_throws() {
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        "examples/control.yaml",
        "--env",
        "PORT=0",
    ]);
    let addr = weir.listening("default/listener", UP);

    let mut s = open(addr, "GET", "/count/3", &[("Accept", "text/event-stream")], "").unwrap();
    assert_eq!(s.status, 200);
    let mut body = String::new();
    while let Some(chunk) = s.next_chunk().unwrap() {
        body.push_str(&chunk);
    }
    let events: Vec<&str> = body.lines().filter(|l| l.starts_with("data: ")).collect();
    assert_eq!(events, ["data: tick 0", "data: tick 1", "data: tick 2"], "{body}");

    let r = get(addr, "/sum/4").unwrap();
    assert_eq!((r.status, r.body.trim()), (200, "10"));

    let first = get(addr, "/users/7").unwrap();
    assert_eq!(first.status, 200);
    let again = get(addr, "/users/7").unwrap();
    assert_eq!(again.body, first.body, "a hit answers with the stored reply");
    let other = get(addr, "/users/8").unwrap();
    assert_ne!(other.body, first.body);

    let r = get(addr, "/refuse").unwrap();
    assert!(r.status >= 400, "{}", r.status);
    assert!(r.body.contains("not allowed"), "{}", r.body);
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}

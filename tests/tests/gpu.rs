//! The `gpu` kind on a host without a CUDA driver (this one), with the real binary: the namespace's
//! other specs serve, and the `gpu` spec is inactive with an error naming the namespace, the spec and
//! the missing driver, as the host logs it and `weir get specs` shows it. Never a panic.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use weir_tests::http::request;
use weir_tests::{run, sqlite_store, temp_file, Weir};

const UP: Duration = Duration::from_secs(60);

const SPECS: &str = r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: 0
  ports:
    out:
      - name: hello
        port: in
- kind: snippet
  name: hello
  language: text
  code: hi
- kind: gpu
  name: double
  op: add
"#;

#[test]
fn without_a_cuda_driver_the_gpu_spec_is_inactive_and_the_rest_serves() {
    if weir_cuda::driver_present() {
        eprintln!("this host has a CUDA driver: the test is for hosts without one");
        return;
    }
    let store = sqlite_store();
    let specs = temp_file("ml.yaml", SPECS);
    let specs = specs.to_str().unwrap();
    let mut host = Weir::start(&[
        "start",
        "--store",
        &store,
        "-n",
        "ml",
        "--no-system",
        "--from-specs",
        specs,
    ]);
    let addr = host.listening("ml/listener", UP);
    let r = request(addr, "GET", "/", &[], "").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "hi"));

    let want =
        "inactive: namespace \"ml\": spec \"double\" (kind gpu): field \"device\": no CUDA driver found";
    let deadline = Instant::now() + Duration::from_secs(10);
    let table = loop {
        let out = run(&["get", "specs", "-n", "ml", "--store", &store], None);
        if out.stdout.contains(want) || Instant::now() > deadline {
            break out.stdout;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {table}"))
            .to_string()
    };
    assert!(line("double").contains(want), "{table}");
    assert!(line("hello").ends_with("active"), "{table}");
    assert!(host.stop(), "exit status 0 after SIGTERM: no panic");
}

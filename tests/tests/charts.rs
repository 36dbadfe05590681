//! Charts end to end, with the real binary and a SQLite file: a spec whose kind is a chart waits
//! as an inactive placeholder (its listener unbound) until `weir apply charts` brings the chart;
//! the HTTP answer then comes from the chart's inner snippet; a changed chart changes the answer; a
//! chart named like a built-in kind is refused; `weir start --from-charts` serves the examples.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_tests::http::get;
use weir_tests::{eventually, run, sqlite_store, Weir};

const UP: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(20);

fn greeter(greeting: &str) -> String {
    format!(
        "- name: greeter\n  specs:\n    - kind: snippet\n      name: greet\n      language: text\n      code: '{{{{ .GREETING }}}}'\n  inbounds:\n    in:\n      - name: greet\n        port: in\n  env:\n    GREETING:\n      - data: '{greeting}, {{{{ .who }}}}'\n"
    )
}

#[test]
fn a_chart_applied_to_a_running_host_activates_its_specs_and_a_changed_chart_changes_the_answer() {
    let store = sqlite_store();
    let mut host = Weir::start(&[
        "start",
        "--store",
        &store,
        "-n",
        "default",
        "--from-specs",
        "examples/greeter.yaml",
        "--env",
        "PORT=0",
    ]);
    // The spec of kind `greeter` is a placeholder: its status says why.
    eventually("hello is recorded as inactive", WAIT, || {
        let out = run(&["get", "specs", "hello", "--store", &store], None);
        out.stdout
            .contains("field \"kind\": unknown kind \"greeter\"")
            .then_some(())
    });

    let out = run(
        &["apply", "charts", "-f", "-", "--store", &store],
        Some(&greeter("hello")),
    );
    assert!(out.ok(), "{out:?}");
    let addr = host.listening("default/listener", UP);
    assert_eq!(get(addr, "/").unwrap().body, "hello, ada");

    let out = run(
        &["apply", "charts", "-f", "-", "--store", &store],
        Some(&greeter("bonjour")),
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "chart default/greeter configured\n");
    eventually("the answer becomes bonjour", WAIT, || {
        (get(addr, "/").ok()?.body == "bonjour, ada").then_some(())
    });

    let builtin = greeter("hi").replace("name: greeter", "name: snippet");
    let out = run(&["apply", "charts", "-f", "-", "--store", &store], Some(&builtin));
    assert!(!out.ok(), "{out:?}");
    assert!(
        out.stderr.contains(
            "namespace \"default\": chart \"snippet\": field \"name\": \"snippet\" is a built-in kind"
        ),
        "{out:?}"
    );
    let charts = run(&["get", "charts", "-o", "json", "--store", &store], None);
    assert!(!charts.stdout.contains("\"name\": \"snippet\""), "{charts:?}");
    assert_eq!(get(addr, "/").unwrap().body, "bonjour, ada");
    assert!(host.stop());
}

#[test]
fn start_from_charts_serves_the_example() {
    let store = sqlite_store();
    let mut host = Weir::start(&[
        "start",
        "--store",
        &store,
        "--from-charts",
        "examples/greeter-chart.yaml",
        "--from-specs",
        "examples/greeter.yaml",
        "--env",
        "PORT=0",
    ]);
    let addr = host.listening("default/listener", UP);
    assert_eq!(get(addr, "/").unwrap().body, "hello, ada");
    assert!(host.stop());
}

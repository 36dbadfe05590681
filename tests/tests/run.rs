//! `weir run` end to end: the real binary runs one job in-process and prints its events.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use weir_tests::{binary, root, temp_file, CHAIN};

fn run(args: &[&str]) -> (i32, String, String) {
    let specs = temp_file("chain.yaml", CHAIN);
    let out = Command::new(binary())
        .current_dir(root())
        .args([
            "run",
            "--store",
            "memory://",
            "--from-specs",
            specs.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_job_prints_its_events_in_order_and_its_result() {
    let (code, out, err) = run(&["double", "-i", "21"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "[1] job queued");
    assert_eq!(lines[1], "[2] job running");
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {out}"))
    };
    assert!(pos("double running") < pos("label running"));
    assert!(pos("label out = {\"answer\":42}") < pos("label completed"));
    assert!(pos("edge double:out->label:in drained (1)") < pos("job completed"));
    assert!(
        out.trim_end()
            .ends_with("{\n  \"double\": {\n    \"answer\": 42\n  }\n}"),
        "{out}"
    );
}

#[test]
fn a_failing_job_exits_non_zero_and_says_why() {
    let (code, out, _) = run(&["double", "-i", "60"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("label error: "), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("job failed") && last.contains("too big: 120"),
        "{out}"
    );
}

#[test]
fn json_output_is_one_event_per_line() {
    let (code, out, _) = run(&["double", "-i", "1", "-o", "json"]);
    assert_eq!(code, 0);
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap()["status"], "completed");
}

#[test]
fn an_unknown_node_is_a_clear_error() {
    let (code, _, err) = run(&["nosuch"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("namespace \"default\": no spec named \"nosuch\" to run (specs: double, label)"),
        "{err}"
    );
}

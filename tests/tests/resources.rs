//! The resource commands end to end, with the real binary and a SQLite file: `weir apply` from a
//! second process changes what a running host answers; `get -o yaml` round-trips into `apply` with
//! no change; invalid batches write nothing; a `kill -9` mid-apply leaves all or none; a host run
//! without `-n` starts (and stops) namespaces as they are applied (and deleted); values are masked;
//! `delete` refuses an empty file and a nameless entry.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use weir_tests::http::get;
use weir_tests::{binary, eventually, root, run, sqlite_store, temp_file, Weir};

const UP: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(20);

fn weir(args: &[&str], store: &str) -> weir_tests::Finished {
    let mut all = args.to_vec();
    all.extend(["--store", store]);
    run(&all, None)
}

fn specs_in(store: &str) -> Vec<serde_json::Value> {
    let out = weir(&["get", "specs", "-o", "json"], store);
    assert!(out.ok(), "{out:?}");
    serde_json::from_str::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

const PANG: &str = "- kind: snippet\n  name: pong\n  language: text\n  code: pang\n";

#[test]
fn a_snippet_applied_from_a_second_process_changes_the_answer() {
    let store = sqlite_store();
    let mut host = Weir::start(&[
        "start",
        "--store",
        &store,
        "-n",
        "default",
        "--from-specs",
        "examples/ping.yaml",
        "--env",
        "PORT=0",
    ]);
    let addr = host.listening("default/listener", UP);
    assert_eq!(get(addr, "/ping").unwrap().body, "pong");

    let out = run(&["apply", "specs", "-f", "-", "--store", &store], Some(PANG));
    assert!(out.ok(), "{out:?}");
    assert_eq!(out.stdout, "spec default/pong configured\n");
    eventually("the answer becomes pang", WAIT, || {
        (get(addr, "/ping").ok()?.body == "pang").then_some(())
    });

    // The host records each spec's status; `get` shows it.
    let broken = "- kind: no-such-kind\n  name: broken\n";
    assert!(run(&["apply", "specs", "-f", "-", "--store", &store], Some(broken)).ok());
    let table = eventually("broken is recorded as inactive", WAIT, || {
        let out = weir(&["get", "specs"], &store);
        out.stdout.contains("inactive").then_some(out.stdout)
    });
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in {table}"))
            .to_string()
    };
    assert!(line("pong").ends_with("active"), "{table}");
    assert!(
        line("broken").contains("inactive: namespace \"default\": spec \"broken\" (kind no-such-kind): field \"kind\": unknown kind"),
        "{table}"
    );
    assert!(table.starts_with("NAMESPACE   NAME"), "{table}");
    assert!(host.stop());
    let out = weir(&["get", "specs", "pong"], &store);
    assert!(
        out.stdout.lines().nth(1).unwrap().ends_with(" -"),
        "a stopped host's statuses are cleared: {out:?}"
    );
}

#[test]
fn get_yaml_round_trips_into_apply_with_no_change() {
    let store = sqlite_store();
    let out = weir(&["apply", "specs", "-f", "examples/ping.yaml", "-n", "a"], &store);
    assert_eq!(
        out.stdout, "spec a/listener created\nspec a/router created\nspec a/pong created\n",
        "{out:?}"
    );
    for format in ["yaml", "json"] {
        let dump = weir(&["get", "specs", "-o", format], &store);
        assert!(dump.ok(), "{dump:?}");
        let again = run(
            &["apply", "specs", "-f", "-", "--store", &store],
            Some(&dump.stdout),
        );
        assert!(again.ok(), "{again:?}");
        assert_eq!(
            again.stdout, "spec a/listener unchanged\nspec a/router unchanged\nspec a/pong unchanged\n",
            "{format}"
        );
    }
    // A dry run shows the diff of a change and writes nothing.
    let dry = run(
        &[
            "apply",
            "specs",
            "-f",
            "-",
            "-n",
            "a",
            "--dry-run",
            "--store",
            &store,
        ],
        Some(PANG),
    );
    assert!(dry.ok(), "{dry:?}");
    assert!(
        dry.stdout.starts_with("spec a/pong configured (dry run)\n"),
        "{dry:?}"
    );
    assert!(dry.stdout.contains("\n- code: pong\n+ code: pang\n"), "{dry:?}");
    let pong = specs_in(&store)
        .into_iter()
        .find(|s| s["name"] == "pong")
        .unwrap();
    assert_eq!(pong["code"], "pong", "the dry run wrote nothing");
}

#[test]
fn one_invalid_entry_in_a_hundred_writes_none_of_them() {
    let store = sqlite_store();
    let mut text = String::new();
    for i in 0..100 {
        if i == 57 {
            text.push_str(&format!(
                "- kind: listener\n  name: l{i}\n  namespace: bulk\n  protocol: http\n  port: eighty\n"
            ));
        } else {
            text.push_str(&format!(
                "- kind: snippet\n  name: s{i}\n  namespace: bulk\n  language: text\n  code: x{i}\n"
            ));
        }
    }
    text.push_str("- kind: snippet\n  namespace: bulk\n  language: text\n  code: nameless\n");
    let file = temp_file("bulk.yaml", &text);
    let out = weir(&["apply", "specs", "-f", file.to_str().unwrap()], &store);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("entry 58: namespace \"bulk\": spec \"l57\": field \"port\": "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "entry 101: namespace \"bulk\": spec (unnamed): field \"name\": an entry needs a name or an id"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert!(specs_in(&store).is_empty(), "none of the 100 were written");
}

#[test]
fn kill_9_in_the_middle_of_a_5000_spec_apply_leaves_all_or_none() {
    let store = sqlite_store();
    let mut text = String::with_capacity(5000 * 80);
    for i in 0..5000 {
        text.push_str(&format!(
            "- kind: snippet\n  name: s{i}\n  namespace: big\n  language: text\n  code: x{i}\n"
        ));
    }
    let file = temp_file("big.yaml", &text);
    let mut child = Command::new(binary())
        .args(["apply", "specs", "-f", file.to_str().unwrap(), "--store", &store])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("apply ended before writing: {seen}");
        }
        seen.push_str(&line);
        if line.starts_with("writing 5000 specs") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let found = specs_in(&store).len();
    eprintln!("after kill -9 during the write: {found} of 5000 specs");
    assert!(
        found == 0 || found == 5000,
        "all or none after kill -9 ({status:?}): found {found}"
    );
    // The store is usable afterwards, and a second apply completes the batch.
    let out = weir(&["apply", "specs", "-f", file.to_str().unwrap()], &store);
    assert!(out.ok(), "{}", out.stderr);
    assert_eq!(specs_in(&store).len(), 5000);
    assert!(
        out.stderr.contains("validating 5000 specs"),
        "progress: {}",
        out.stderr
    );
}

#[test]
fn a_host_without_n_starts_and_stops_namespaces_as_they_are_applied_and_deleted() {
    let store = sqlite_store();
    let mut host = Weir::start(&["start", "--store", &store, "--env", "PORT=0"]);
    // The host is up once a first namespace serves.
    let out = weir(
        &["apply", "specs", "-f", "examples/ping.yaml", "-n", "first"],
        &store,
    );
    assert!(out.ok(), "{out:?}");
    let first = host.listening("first/listener", UP);
    assert_eq!(get(first, "/ping").unwrap().body, "pong");

    let out = weir(
        &["apply", "specs", "-f", "examples/ping.yaml", "-n", "fresh"],
        &store,
    );
    assert!(out.ok(), "{out:?}");
    let fresh = host.listening("fresh/listener", UP);
    let r = get(fresh, "/ping").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "pong"));

    let out = weir(
        &["delete", "specs", "listener", "router", "pong", "-n", "fresh"],
        &store,
    );
    assert_eq!(
        out.stdout.lines().filter(|l| l.ends_with(" deleted")).count(),
        3,
        "{out:?}"
    );
    eventually("fresh stops serving", WAIT, || {
        get(fresh, "/ping").is_err().then_some(())
    });
    assert_eq!(
        get(first, "/ping").unwrap().body,
        "pong",
        "the other namespace runs on"
    );
    assert!(host.stop());
}

#[test]
fn values_are_masked_unless_asked_for() {
    let store = sqlite_store();
    let values = "- name: db\n  data:\n    password: hunter2\n";
    assert!(run(
        &["apply", "values", "-f", "-", "-n", "billing", "--store", &store],
        Some(values)
    )
    .ok());
    for args in [
        vec!["get", "values"],
        vec!["get", "values", "-o", "yaml"],
        vec!["get", "values", "-o", "json", "-n", "billing"],
    ] {
        let out = weir(&args, &store);
        assert!(out.ok(), "{out:?}");
        assert!(!out.stdout.contains("hunter2"), "{args:?}: {}", out.stdout);
        assert!(out.stdout.contains("******"), "{args:?}: {}", out.stdout);
    }
    let shown = weir(
        &[
            "get",
            "values",
            "db",
            "-n",
            "billing",
            "-o",
            "yaml",
            "--show-values",
        ],
        &store,
    );
    assert!(shown.stdout.contains("password: hunter2"), "{shown:?}");
    // Applying the masked dump back is refused rather than overwriting the secret.
    let masked = weir(&["get", "values", "-o", "yaml"], &store);
    let out = run(
        &["apply", "values", "-f", "-", "--store", &store],
        Some(&masked.stdout),
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("namespace \"billing\": value \"db\": field \"data\": is the mask"),
        "{}",
        out.stderr
    );
    let again = weir(&["get", "values", "-o", "json", "--show-values"], &store);
    assert!(again.stdout.contains("hunter2"), "unchanged: {again:?}");
}

#[test]
fn delete_refuses_an_empty_file_and_a_nameless_entry() {
    let store = sqlite_store();
    assert!(weir(&["apply", "specs", "-f", "examples/ping.yaml"], &store).ok());
    let empty = temp_file("empty.yaml", "");
    let out = weir(&["delete", "specs", "-f", empty.to_str().unwrap()], &store);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("an empty file never deletes everything"),
        "{}",
        out.stderr
    );
    let nameless = temp_file("nameless.yaml", "- kind: snippet\n  language: text\n");
    let out = weir(&["delete", "specs", "-f", nameless.to_str().unwrap()], &store);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "namespace \"default\": spec (unnamed): field \"name\": an entry needs a name or an id"
        ),
        "{}",
        out.stderr
    );
    let out = weir(&["apply", "specs", "-f", nameless.to_str().unwrap()], &store);
    assert_eq!(out.code, Some(1), "apply refuses it too: {out:?}");
    assert_eq!(specs_in(&store).len(), 3, "nothing deleted or added");
    let out = weir(&["delete", "specs"], &store);
    assert_eq!(out.code, Some(1), "no names and no file: {out:?}");
    // A file naming specs deletes exactly those.
    let out = run(
        &["delete", "specs", "-f", "-", "--store", &store],
        Some("- name: pong\n  kind: snippet\n"),
    );
    assert_eq!(out.stdout, "spec default/pong deleted\n", "{out:?}");
    assert_eq!(specs_in(&store).len(), 2);
}

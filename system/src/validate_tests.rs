#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use super::*;
use crate::resources::read_files;
use weir_codecs::check::templated;

fn entries<T: Stored>(text: &str) -> Vec<Entry<T>> {
    let dir = std::env::temp_dir().join(format!("weir-validate-{}-{}", std::process::id(), rand()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("f.yaml");
    std::fs::write(&path, text).unwrap();
    read_files::<T>(&[path], "ns").unwrap()
}

fn rand() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn schema_errors_name_namespace_resource_and_field() {
    let scheme = weir_extensions::scheme();
    let (_, report) = validate::<Spec>(
        entries(
            "- kind: listener\n  name: a\n  protocol: http\n  port: eighty\n- kind: listener\n  name: l\n  protocol: http\n  port: '{{ .PORT }}'\n",
        ),
        &scheme,
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let e = &report.errors[0];
    assert!(
        e.contains("entry 1: namespace \"ns\": spec \"a\": field \"port\": "),
        "{e}"
    );
}

#[test]
fn nameless_duplicate_and_undecodable_entries_are_errors() {
    let scheme = weir_extensions::scheme();
    let (_, report) = validate::<Spec>(
        entries("- kind: nop\n- kind: nop\n  name: x\n- kind: nop\n  name: x\n- name: y\n"),
        &scheme,
    );
    let all = report.errors.join("\n");
    assert_eq!(report.errors.len(), 3, "{all}");
    assert!(
        all.contains(
            "entry 1: namespace \"ns\": spec (unnamed): field \"name\": an entry needs a name or an id"
        ),
        "{all}"
    );
    assert!(
        all.contains("entry 3: namespace \"ns\": spec \"x\": field \"name\": appears twice"),
        "{all}"
    );
    assert!(
        all.contains("entry 4: namespace \"ns\": spec \"y\": field \"kind\": missing"),
        "{all}"
    );
}

#[test]
fn an_unknown_kind_is_a_warning_and_a_masked_value_an_error() {
    let scheme = weir_extensions::scheme();
    let (items, report) = validate::<Spec>(entries("kind: double\nname: d\n"), &scheme);
    assert!(report.errors.is_empty());
    assert_eq!(items.len(), 1);
    assert!(report.warnings[0].contains("unknown kind \"double\""));
    let (_, report) = validate::<ValueResource>(entries("name: v\ndata: '******'\n"), &scheme);
    assert!(
        report.errors[0].contains("field \"data\": is the mask"),
        "{:?}",
        report.errors
    );
}

#[test]
fn charts_check_their_specs_and_never_shadow_a_built_in_kind() {
    let scheme = weir_extensions::scheme();
    let (_, report) = validate::<Chart>(
        entries(
            "name: snippet\nspecs:\n  - kind: listener\n    name: s\n    protocol: http\n    port: eighty\n",
        ),
        &scheme,
    );
    let all = report.errors.join("\n");
    assert!(
        all.contains("chart \"snippet\": field \"name\": \"snippet\" is a built-in kind"),
        "{all}"
    );
    assert!(all.contains("field \"specs[0].port\""), "{all}");
}

#[test]
fn template_paths_are_found() {
    let v = serde_json::json!({"routes": [{"port": "{{ .P }}"}], "x": 1});
    assert!(templated(&v, "routes.0.port"));
    assert!(!templated(&v, "x"));
    assert!(!templated(&v, ""));
}

//! Checks over every flow-control kind at once: each one's JSON Schema is in force (a schema that
//! fails to compile would silently accept anything), and each declares its ports and a doc line.

use serde_json::json;

use crate::control::testkit::scheme;

const KINDS: [&str; 11] = [
    "block", "step", "pipe", "fork", "merge", "split", "for", "if", "switch", "try", "retry",
];

#[test]
fn every_schema_rejects_an_unknown_field() {
    let scheme = scheme();
    for kind in KINDS {
        let codec = scheme.get(kind).unwrap_or_else(|| panic!("{kind} is registered"));
        assert!(
            codec.decode(&json!({"no_such_field": 1})).is_err(),
            "{kind} accepts an unknown field"
        );
    }
}

#[test]
fn every_kind_declares_ports_and_a_doc_line() {
    let scheme = scheme();
    for kind in KINDS {
        let codec = scheme.get(kind).unwrap_or_else(|| panic!("{kind} is registered"));
        assert!(!codec.ports().inputs.is_empty(), "{kind}");
        assert!(codec.ports().outputs.iter().any(|p| p == "error"), "{kind}");
        assert!(!codec.doc().is_empty(), "{kind}");
    }
}

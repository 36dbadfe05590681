#![allow(clippy::unwrap_used)]

use super::*;
use weir_codecs::check::check_spec;
use weir_loader::MemoryStore;

#[test]
fn system_yaml_is_valid_against_the_scheme_and_all_in_system() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let scheme = scheme(&services(store));
    let specs = parse_specs(SYSTEM_YAML, Format::Yaml).unwrap();
    assert!(specs.len() > 20);
    for spec in &specs {
        assert_eq!(spec.namespace, SYSTEM, "{:?}", spec.name);
        let mut issues = Vec::new();
        let mut warnings = Vec::new();
        check_spec(spec, &scheme, "", &mut issues, &mut warnings);
        assert!(
            issues.is_empty() && warnings.is_empty(),
            "{:?}: {issues:?} {warnings:?}",
            spec.name
        );
    }
    assert!(specs.iter().any(|s| s.name.as_deref() == Some("listener")));
}

#[test]
fn seeding_happens_once_and_never_over_an_existing_system_namespace() {
    let store = MemoryStore::new();
    assert!(seed(&store).unwrap());
    let n = store.specs(Some(SYSTEM)).unwrap().len();
    assert!(!seed(&store).unwrap());
    assert_eq!(store.specs(Some(SYSTEM)).unwrap().len(), n);
}

#[test]
fn an_address_other_than_loopback_needs_a_token() {
    let store = MemoryStore::new();
    let err = resolve("0.0.0.0:0", &store).unwrap_err().to_string();
    assert!(err.contains("access token"), "{err}");
    assert!(resolve("127.0.0.1:0", &store).is_ok());
    store
        .apply_values(vec![weir_codecs::resource::ValueResource {
            namespace: SYSTEM.into(),
            ..weir_codecs::resource::ValueResource::new("token-ops", serde_json::json!({"token": "t"}))
        }])
        .unwrap();
    assert!(resolve("0.0.0.0:0", &store).is_ok());
}

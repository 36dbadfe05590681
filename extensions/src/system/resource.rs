//! The three stored resource kinds (specs, values, charts) behind one trait, so each syscall opcode
//! is written once; and RFC 7396 merge patches.

use serde_json::Value as Json;
use uuid::Uuid;
use weir_codecs::check::{check_chart, check_spec};
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{Chart, FieldIssue, Identity, Spec, ValueResource};
use weir_loader::{Change, Store, StoreError};

/// What `weir get` and the API print instead of a Value's data.
pub const MASK: &str = "******";

/// A stored resource kind.
pub(crate) trait Resource: Identity + Clone + Send + Sync + 'static {
    /// `spec`, `value`, `chart`: for messages.
    const ONE: &'static str;
    fn from_json(v: &Json) -> Result<Self, FieldIssue>;
    fn to_json(&self) -> Json;
    fn ensure_id(&mut self) -> Uuid;
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError>;
    fn apply(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError>;
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    /// Schema checks before a write (see `weir_codecs::check`).
    fn check(&self, _scheme: &Scheme, _issues: &mut Vec<FieldIssue>) {}
    /// The resource as a read shows it (a Value's data masked unless `unmask`).
    fn shown(&self, _unmask: bool) -> Json {
        self.to_json()
    }
    /// Whether a filter key (besides `id`, `namespace`, `name`) matches.
    fn matches_extra(&self, _key: &str, _want: &str) -> Option<bool> {
        None
    }
}

impl Resource for Spec {
    const ONE: &'static str = "spec";
    fn from_json(v: &Json) -> Result<Self, FieldIssue> {
        Spec::from_value(v)
    }
    fn to_json(&self) -> Json {
        self.to_value()
    }
    fn ensure_id(&mut self) -> Uuid {
        Spec::ensure_id(self)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.specs(namespace)
    }
    fn apply(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_specs(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_specs(ids)
    }
    fn check(&self, scheme: &Scheme, issues: &mut Vec<FieldIssue>) {
        // Unknown kinds are allowed (a chart may define them later); the spec stays inactive.
        check_spec(self, scheme, "", issues, &mut Vec::new());
    }
    fn matches_extra(&self, key: &str, want: &str) -> Option<bool> {
        (key == "kind").then(|| self.kind == want)
    }
}

impl Resource for ValueResource {
    const ONE: &'static str = "value";
    fn from_json(v: &Json) -> Result<Self, FieldIssue> {
        ValueResource::from_value(v)
    }
    fn to_json(&self) -> Json {
        self.to_value()
    }
    fn ensure_id(&mut self) -> Uuid {
        ValueResource::ensure_id(self)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.values(namespace)
    }
    fn apply(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_values(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_values(ids)
    }
    fn check(&self, _: &Scheme, issues: &mut Vec<FieldIssue>) {
        if self.data == Json::String(MASK.into()) {
            issues.push(FieldIssue::new(
                "data",
                "is the mask a read shows: writing it would overwrite the data; read with unmask=true to edit it",
            ));
        }
    }
    fn shown(&self, unmask: bool) -> Json {
        let mut v = self.to_json();
        if !unmask {
            if let Some(m) = v.as_object_mut() {
                m.insert("data".into(), Json::String(MASK.into()));
            }
        }
        v
    }
}

impl Resource for Chart {
    const ONE: &'static str = "chart";
    fn from_json(v: &Json) -> Result<Self, FieldIssue> {
        Chart::from_value(v)
    }
    fn to_json(&self) -> Json {
        self.to_value()
    }
    fn ensure_id(&mut self) -> Uuid {
        Chart::ensure_id(self)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.charts(namespace)
    }
    fn apply(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_charts(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_charts(ids)
    }
    fn check(&self, scheme: &Scheme, issues: &mut Vec<FieldIssue>) {
        check_chart(self, scheme, issues, &mut Vec::new());
    }
}

/// RFC 7396: `patch` merged into `target`; a `null` in the patch removes the key, an object merges
/// recursively, anything else replaces. The patch wins.
pub(crate) fn merge_patch(target: &mut Json, patch: &Json) {
    let Json::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Json::Object(serde_json::Map::new());
    }
    if let Json::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Json::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's own example.
        let mut t = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"], "content": "This will be unchanged"});
        merge_patch(
            &mut t,
            &json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
                "author": {"familyName": null}, "tags": ["example"]}),
        );
        assert_eq!(
            t,
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        let mut s = json!("x");
        merge_patch(&mut s, &json!({"a": {"b": null, "c": 1}}));
        assert_eq!(s, json!({"a": {"c": 1}}));
    }
}

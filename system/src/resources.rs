//! What `apply`, `get` and `delete` share: the three stored resources behind one trait ([`Stored`]),
//! and reading resource files (`-` for stdin), giving entries that name no namespace the first `-n`.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;
use weir_codecs::resource::{read_entries, Chart, FieldIssue, Format, Identity, Spec, ValueResource};
use weir_loader::{Change, Store, StoreError};

/// What `get` shows in place of a Value's data (the same as the API's).
pub use weir_extensions::system::MASK;

/// A resource the store keeps: specs, values, charts.
pub trait Stored: Identity + Clone + PartialEq + Serialize + Sized {
    /// `spec`, `value`, `chart`.
    const KIND: &'static str;
    /// `specs`, `values`, `charts`.
    const PLURAL: &'static str;
    fn decode(v: &Json) -> Result<Self, FieldIssue>;
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError>;
    fn write(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError>;
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    /// Hides secret data (Values).
    fn mask(&mut self) {}

    /// `default/pong`, or `default/ID` for a nameless resource.
    fn label(&self) -> String {
        let who = match (self.name(), self.id()) {
            (Some(n), _) => n.to_string(),
            (None, Some(id)) => id.to_string(),
            (None, None) => "(unnamed)".to_string(),
        };
        format!("{}/{who}", self.namespace())
    }
}

impl Stored for Spec {
    const KIND: &'static str = "spec";
    const PLURAL: &'static str = "specs";
    fn decode(v: &Json) -> Result<Self, FieldIssue> {
        Spec::from_value(v)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.specs(namespace)
    }
    fn write(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_specs(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_specs(ids)
    }
}

impl Stored for ValueResource {
    const KIND: &'static str = "value";
    const PLURAL: &'static str = "values";
    fn decode(v: &Json) -> Result<Self, FieldIssue> {
        ValueResource::from_value(v)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.values(namespace)
    }
    fn write(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_values(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_values(ids)
    }
    fn mask(&mut self) {
        self.data = Json::String(MASK.into());
    }
}

impl Stored for Chart {
    const KIND: &'static str = "chart";
    const PLURAL: &'static str = "charts";
    fn decode(v: &Json) -> Result<Self, FieldIssue> {
        Chart::from_value(v)
    }
    fn list(store: &dyn Store, namespace: Option<&str>) -> Result<Vec<Self>, StoreError> {
        store.charts(namespace)
    }
    fn write(store: &dyn Store, items: Vec<Self>) -> Result<Vec<Change>, StoreError> {
        store.apply_charts(items)
    }
    fn delete(store: &dyn Store, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        store.delete_charts(ids)
    }
}

/// One entry of a file, decoded or not.
pub struct Entry<T> {
    /// `FILE: entry N`, for messages.
    pub origin: String,
    /// The entry's namespace (after defaulting) and name or id as written, for messages.
    pub namespace: String,
    pub name: Option<String>,
    pub decoded: Result<T, FieldIssue>,
}

/// The text of `path` (stdin for `-`) and its format.
fn read_text(path: &Path) -> anyhow::Result<(String, Format)> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let format = Format::detect(path, &text);
    Ok((text, format))
}

/// Reads every entry of `files`, giving those without a namespace `default_ns`.
pub fn read_files<T: Stored>(files: &[PathBuf], default_ns: &str) -> anyhow::Result<Vec<Entry<T>>> {
    let mut out = Vec::new();
    for path in files {
        let (text, format) = read_text(path)?;
        let shown = if path == Path::new("-") {
            "stdin".to_string()
        } else {
            path.display().to_string()
        };
        let entries = read_entries(&text, format).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        for (i, mut entry) in entries.into_iter().enumerate() {
            if let Json::Object(map) = &mut entry {
                let unset = match map.get("namespace") {
                    None | Some(Json::Null) => true,
                    Some(Json::String(s)) => s.is_empty(),
                    Some(_) => false,
                };
                if unset {
                    map.insert("namespace".into(), Json::String(default_ns.to_string()));
                }
            }
            let text_of = |key: &str| match entry.get(key) {
                Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            out.push(Entry {
                origin: format!("{shown}: entry {}", i + 1),
                namespace: text_of("namespace").unwrap_or_else(|| default_ns.to_string()),
                name: text_of("name").or_else(|| text_of("id")),
                decoded: T::decode(&entry),
            });
        }
    }
    Ok(out)
}

/// The first `-n`, else `default`.
pub fn default_namespace(namespaces: &[String]) -> String {
    namespaces
        .first()
        .cloned()
        .unwrap_or_else(|| weir_codecs::resource::DEFAULT_NAMESPACE.to_string())
}

/// Where `item` is in `stored`: by id, else by (namespace, name).
pub fn find<'a, T: Stored>(stored: &'a [T], item: &T) -> Option<&'a T> {
    match item.id() {
        Some(id) => stored.iter().find(|s| s.id() == Some(id)),
        None => stored
            .iter()
            .find(|s| s.namespace() == item.namespace() && s.name().is_some() && s.name() == item.name()),
    }
}

//! `weir get specs|values|charts [NAME…]`: every namespace unless `-n` names some; a table (specs
//! with the STATUS their host recorded), JSON or YAML that `weir apply` reads back unchanged. Values'
//! data is masked unless `--show-values`.

use std::collections::HashMap;

use weir_codecs::resource::{Chart, Spec, ValueResource};
use weir_loader::Store;

use crate::cli::{GetArgs, Output};
use crate::output::{json, table, yaml};
use crate::resources::Stored;

/// A kind's table columns.
pub trait Columns: Stored {
    fn header() -> Vec<&'static str>;
    fn row(&self, store: &StatusIndex) -> Vec<String>;
}

/// Spec id → its status cell.
pub struct StatusIndex(HashMap<uuid::Uuid, String>);

impl StatusIndex {
    fn load(store: &dyn Store, namespaces: &[String]) -> anyhow::Result<Self> {
        let mut map = HashMap::new();
        let lists = if namespaces.is_empty() {
            vec![store.statuses(None)?]
        } else {
            namespaces
                .iter()
                .map(|ns| store.statuses(Some(ns)))
                .collect::<Result<_, _>>()?
        };
        for st in lists.into_iter().flatten() {
            let cell = match &st.error {
                None => "active".to_string(),
                Some(e) => format!("inactive: {e}"),
            };
            map.insert(st.id, cell);
        }
        Ok(StatusIndex(map))
    }
}

impl Columns for Spec {
    fn header() -> Vec<&'static str> {
        vec!["NAMESPACE", "NAME", "KIND", "STATUS"]
    }
    fn row(&self, statuses: &StatusIndex) -> Vec<String> {
        let status = self
            .id
            .and_then(|id| statuses.0.get(&id).cloned())
            .unwrap_or_else(|| "-".into());
        vec![
            self.namespace.clone(),
            self.name_or_id(),
            self.kind.clone(),
            status,
        ]
    }
}

impl Columns for ValueResource {
    fn header() -> Vec<&'static str> {
        vec!["NAMESPACE", "NAME", "DATA"]
    }
    fn row(&self, _: &StatusIndex) -> Vec<String> {
        let data = match &self.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        vec![self.namespace.clone(), self.name_or_id(), data]
    }
}

impl Columns for Chart {
    fn header() -> Vec<&'static str> {
        vec!["NAMESPACE", "NAME", "SPECS"]
    }
    fn row(&self, _: &StatusIndex) -> Vec<String> {
        vec![
            self.namespace.clone(),
            self.name_or_id(),
            self.specs.len().to_string(),
        ]
    }
}

/// `weir get`.
pub fn get<T: Columns>(args: &GetArgs, store: &dyn Store) -> anyhow::Result<()> {
    let mut items: Vec<T> = if args.namespaces.is_empty() {
        T::list(store, None)?
    } else {
        let mut all = Vec::new();
        for ns in &args.namespaces {
            all.extend(T::list(store, Some(ns))?);
        }
        all
    };
    let mut missing = Vec::new();
    if !args.names.is_empty() {
        let named = |i: &T, n: &str| i.name() == Some(n) || i.id().is_some_and(|id| id.to_string() == n);
        items.retain(|i| args.names.iter().any(|n| named(i, n)));
        missing = args
            .names
            .iter()
            .filter(|n| !items.iter().any(|i| named(i, n)))
            .map(|n| format!("{} \"{n}\"", T::KIND))
            .collect();
    }
    if !args.show_values {
        for i in &mut items {
            i.mask();
        }
    }
    let text = match args.output {
        Output::Json => json(&items)?,
        Output::Yaml => yaml(&items)?,
        Output::Table => {
            if items.is_empty() {
                eprintln!("no {} found", T::PLURAL);
                return not_found(&missing);
            }
            let statuses = StatusIndex::load(store, &args.namespaces)?;
            let rows: Vec<Vec<String>> = items.iter().map(|i| i.row(&statuses)).collect();
            table(&T::header(), &rows)
        }
    };
    print!("{text}");
    not_found(&missing)
}

/// An error naming the resources asked for by name and not found.
fn not_found(missing: &[String]) -> anyhow::Result<()> {
    if missing.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("not found: {}", missing.join(", "))
    }
}

//! What the stores need to know of a resource to upsert it: its id, namespace and name. Public so a
//! store in another crate (weir-loader-mongo) follows the same upsert rules.

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;
use weir_codecs::resource::{Chart, Identity, Spec, ValueResource};

use crate::store::StoreError;

/// A resource a store keeps by id and by (namespace, name) (its [`Identity`]).
pub trait Keyed: Identity + Clone + PartialEq + Serialize + DeserializeOwned {
    /// `spec`, `value` or `chart`, for messages.
    const KIND: &'static str;
}

impl Keyed for Spec {
    const KIND: &'static str = "spec";
}

impl Keyed for ValueResource {
    const KIND: &'static str = "value";
}

impl Keyed for Chart {
    const KIND: &'static str = "chart";
}

/// The upsert rules every store follows for entry `index` (from 0) of a batch: an entry needs a name
/// or an id; it keeps its id, else takes the id of the resource with the same (namespace, name), else
/// gets a new one; a name already used by another id is a duplicate. `same_name` looks the name up.
pub fn resolve_id<T: Keyed>(
    item: &T,
    index: usize,
    same_name: impl FnOnce(&str, &str) -> Result<Option<Uuid>, StoreError>,
) -> Result<Uuid, StoreError> {
    let namespace = item.namespace();
    if item.id().is_none() && item.name().is_none() {
        return Err(StoreError::Unidentified {
            namespace: namespace.to_string(),
            resource: T::KIND,
            index: index + 1,
        });
    }
    let other = match item.name() {
        Some(name) => same_name(namespace, name)?,
        None => None,
    };
    Ok(match (item.id(), other) {
        (Some(id), Some(other)) if other != id => {
            return Err(StoreError::Duplicate {
                namespace: namespace.to_string(),
                resource: T::KIND,
                name: item.name().unwrap_or_default().to_string(),
                other,
            })
        }
        (Some(id), _) => id,
        (None, Some(other)) => other,
        (None, None) => Uuid::now_v7(),
    })
}

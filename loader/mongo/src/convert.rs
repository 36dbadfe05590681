//! Resources ↔ BSON documents. Each of `specs`, `values` and `charts` holds one document per
//! resource:
//!
//! ```text
//! { _id: "<uuid>", namespace: "…", name: "…" (absent when none), order: <i64>, body: { …the resource… } }
//! ```
//!
//! `_id` is the resource's id as a string (readable in mongosh, and what a delete event's
//! `documentKey` carries); `namespace` and `name` are copied out of the body for the unique
//! (namespace, name) index and the namespace filter; `order` keeps the order resources were first
//! written, as SQLite's rowid does. The body is the resource as weir writes it to JSON, serialized
//! field by field (never read as extended JSON, so a user's `{"$date": …}` stays a plain object).
//! `statuses` holds `{ _id, namespace, host, error }`.

use bson::{doc, Bson, Document, RawDocument};
use uuid::Uuid;
use weir_loader::{Keyed, SpecStatus, StoreError};

/// The document for `item` stored under `id`, at write position `order`.
pub fn to_document<T: Keyed>(item: &T, id: Uuid, order: i64) -> Result<Document, StoreError> {
    let body = bson::serialize_to_document(item).map_err(|e| {
        StoreError::Backend(format!(
            "namespace \"{}\": {} \"{}\": cannot be stored in MongoDB: {e}",
            item.namespace(),
            T::KIND,
            item.name().map_or_else(|| id.to_string(), str::to_string),
        ))
    })?;
    let mut d = doc! {
        "_id": id.to_string(),
        "namespace": item.namespace(),
    };
    if let Some(name) = item.name() {
        d.insert("name", name);
    }
    d.insert("order", order);
    d.insert("body", body);
    Ok(d)
}

/// The id of a stored document (its `_id`), or of a change event's `documentKey`.
pub fn id_of(d: &Document) -> Option<Uuid> {
    d.get_str("_id").ok().and_then(|s| Uuid::parse_str(s).ok())
}

/// The namespace a stored document is in.
pub fn namespace_of(d: &Document) -> Option<&str> {
    d.get_str("namespace").ok()
}

/// The resource a stored document holds, its id taken from `_id`. Read from the raw bytes: the
/// bson crate's `Document` reads an embedded `{"$date": …}` (or `$oid`, `$numberLong`…) as
/// extended JSON, which would change or refuse a user's data; the raw reader hands it over as is.
pub fn from_raw<T: Keyed>(d: &RawDocument) -> Result<T, StoreError> {
    let shown_id = d
        .get_str("_id")
        .map_or_else(|_| "without a string _id".to_string(), |id| format!("\"{id}\""));
    let unreadable = |what: &dyn std::fmt::Display| {
        StoreError::Backend(format!(
            "namespace \"{}\": {} {shown_id}: stored document is unreadable: {what}",
            d.get_str("namespace").unwrap_or("?"),
            T::KIND,
        ))
    };
    let id = d
        .get_str("_id")
        .ok()
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| unreadable(&"_id is not a UUID string"))?;
    let body = d
        .get_document("body")
        .map_err(|_| unreadable(&"field \"body\" is missing or not a document"))?;
    let mut item: T = bson::deserialize_from_slice(body.as_bytes()).map_err(|e| unreadable(&e))?;
    item.set_id(id);
    Ok(item)
}

/// The write position of a stored document, if it has one.
pub fn order_of(d: &RawDocument) -> Option<i64> {
    d.get_i64("order")
        .ok()
        .or_else(|| d.get_i32("order").ok().map(i64::from))
}

/// The document of one status record.
pub fn status_to_document(st: &SpecStatus) -> Document {
    doc! {
        "_id": st.id.to_string(),
        "namespace": &st.namespace,
        "host": &st.host,
        "error": st.error.as_deref().map_or(Bson::Null, |e| Bson::String(e.to_string())),
    }
}

/// A status record, `None` when the document is not one (logged by the caller).
pub fn status_from_document(d: &Document) -> Option<SpecStatus> {
    Some(SpecStatus {
        id: id_of(d)?,
        namespace: d.get_str("namespace").ok()?.to_string(),
        host: d.get_str("host").ok()?.to_string(),
        error: match d.get("error") {
            Some(Bson::String(e)) => Some(e.clone()),
            _ => None,
        },
    })
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;

//! The database's layout and its version. `meta` holds `{_id: "schema_version", value: N}` (and the
//! `order` counter); [`MIGRATIONS`] bring a database forward on open, each step idempotent, so two
//! hosts opening a fresh database at once both succeed; a database newer than this build is refused.

use bson::{doc, Document};
use mongodb::error::{Error, ErrorKind};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use weir_loader::StoreError;

use crate::connect::error;

/// The collection of bookkeeping documents.
pub const META: &str = "meta";
/// The collection of spec statuses.
pub const STATUSES: &str = "statuses";
/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// One idempotent step of a migration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Creates a collection (explicitly: older servers cannot create one inside a transaction).
    Collection(&'static str),
    /// The unique (namespace, name) index of a resource collection, for named resources only.
    UniqueName(&'static str),
    /// An ascending index on these keys.
    Index(&'static str, &'static [&'static str]),
}

/// Schema migrations: (version, steps), applied in order. Never edit a released entry; append.
pub const MIGRATIONS: &[(u32, &[Step])] = &[(
    1,
    &[
        Step::Collection("specs"),
        Step::Collection("values"),
        Step::Collection("charts"),
        Step::Collection(STATUSES),
        Step::Collection(META),
        Step::UniqueName("specs"),
        Step::UniqueName("values"),
        Step::UniqueName("charts"),
        Step::Index("specs", &["namespace", "order"]),
        Step::Index("values", &["namespace", "order"]),
        Step::Index("charts", &["namespace", "order"]),
        Step::Index(STATUSES, &["namespace"]),
        Step::Index(STATUSES, &["host", "namespace"]),
    ],
)];

/// The migrations to run on a database at version `from`, or why it cannot be opened.
pub fn pending(from: u32) -> Result<Vec<(u32, &'static [Step])>, String> {
    if from > SCHEMA_VERSION {
        return Err(format!(
            "schema version {from} is newer than this build's {SCHEMA_VERSION}: upgrade weir"
        ));
    }
    Ok(MIGRATIONS
        .iter()
        .filter(|(v, _)| *v > from)
        .map(|(v, steps)| (*v, *steps))
        .collect())
}

/// The server's error code, if it sent one.
pub fn code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    }
}

/// `NamespaceExists`: the collection is there already.
const NAMESPACE_EXISTS: i32 = 48;

/// The index keys document for `keys`, all ascending.
fn keys(fields: &[&str]) -> Document {
    let mut d = Document::new();
    for f in fields {
        d.insert(*f, 1_i32);
    }
    d
}

/// The index a step creates, if it creates one: (collection, model).
pub fn index_of(step: Step) -> Option<(&'static str, IndexModel)> {
    match step {
        Step::Collection(_) => None,
        Step::UniqueName(coll) => Some((
            coll,
            IndexModel::builder()
                .keys(keys(&["namespace", "name"]))
                .options(
                    IndexOptions::builder()
                        .name("namespace_name".to_string())
                        .unique(true)
                        .partial_filter_expression(doc! {"name": {"$type": "string"}})
                        .build(),
                )
                .build(),
        )),
        Step::Index(coll, fields) => Some((
            coll,
            IndexModel::builder()
                .keys(keys(fields))
                .options(IndexOptions::builder().name(fields.join("_")).build())
                .build(),
        )),
    }
}

/// The database's schema version (0 when new).
async fn version(db: &Database) -> Result<u32, Error> {
    let found = db
        .collection::<Document>(META)
        .find_one(doc! {"_id": "schema_version"})
        .await?;
    Ok(found
        .and_then(|d| match d.get("value") {
            Some(bson::Bson::Int32(v)) => u32::try_from(*v).ok(),
            Some(bson::Bson::Int64(v)) => u32::try_from(*v).ok(),
            _ => None,
        })
        .unwrap_or(0))
}

async fn run(db: &Database, step: Step) -> Result<(), Error> {
    if let Step::Collection(name) = step {
        return match db.create_collection(name).await {
            Err(e) if code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
            other => other,
        };
    }
    if let Some((coll, model)) = index_of(step) {
        db.collection::<Document>(coll).create_index(model).await?;
    }
    Ok(())
}

/// Brings the database up to [`SCHEMA_VERSION`]; returns it.
pub async fn migrate(db: &Database, shown: &str) -> Result<u32, StoreError> {
    let from = version(db)
        .await
        .map_err(|e| error(shown, format_args!("reading the schema version: {e}")))?;
    for (v, steps) in pending(from).map_err(|e| error(shown, e))? {
        for step in steps {
            run(db, *step).await.map_err(|e| {
                error(
                    shown,
                    format_args!("migrating to schema version {v} ({step:?}): {e}"),
                )
            })?;
        }
        db.collection::<Document>(META)
            .update_one(
                doc! {"_id": "schema_version"},
                doc! {"$max": {"value": i64::from(v)}},
            )
            .upsert(true)
            .await
            .map_err(|e| error(shown, format_args!("migrating to schema version {v}: {e}")))?;
    }
    Ok(SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_new_database_gets_every_migration_and_a_current_one_none() {
        let all = pending(0).unwrap();
        assert_eq!(all.len(), MIGRATIONS.len());
        assert_eq!(all.last().unwrap().0, SCHEMA_VERSION);
        assert!(pending(SCHEMA_VERSION).unwrap().is_empty());
    }

    #[test]
    fn a_newer_database_is_refused() {
        let e = pending(SCHEMA_VERSION + 1).unwrap_err();
        assert!(
            e.contains("newer than this build") && e.contains("upgrade weir"),
            "{e}"
        );
    }

    #[test]
    fn names_are_unique_per_namespace_only_where_there_is_a_name() {
        let (coll, model) = index_of(Step::UniqueName("values")).unwrap();
        assert_eq!(coll, "values");
        assert_eq!(model.keys, doc! {"namespace": 1, "name": 1});
        let options = model.options.unwrap();
        assert_eq!(options.unique, Some(true));
        assert_eq!(
            options.partial_filter_expression,
            Some(doc! {"name": {"$type": "string"}}),
            "nameless resources do not collide"
        );
    }

    #[test]
    fn every_resource_collection_is_created_and_indexed() {
        let steps = MIGRATIONS[0].1;
        for coll in ["specs", "values", "charts"] {
            assert!(steps.contains(&Step::Collection(coll)));
            assert!(steps.contains(&Step::UniqueName(coll)));
            assert!(steps.contains(&Step::Index(coll, &["namespace", "order"])));
        }
        assert!(steps.contains(&Step::Collection(STATUSES)));
    }
}

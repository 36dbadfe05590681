//! `weir delete specs|values|charts NAME… | -f FILE`: deletes the named resources (in the `-n`
//! namespaces, else `default`) or those a file lists (by id, else namespace and name), in one store
//! write. A file with no entries, or an entry with neither name nor id, is an error: `delete` never
//! means "delete everything" or "delete something".

use anyhow::bail;
use uuid::Uuid;
use weir_codecs::resource::FieldIssue;
use weir_loader::Store;

use crate::cli::DeleteArgs;
use crate::resources::{default_namespace, find, read_files, Stored};
use crate::validate::sentence;

/// `weir delete`.
pub fn delete<T: Stored>(args: &DeleteArgs, store: &dyn Store) -> anyhow::Result<()> {
    if args.names.is_empty() && args.files.is_empty() {
        bail!(
            "delete {}: name the resources, or give -f FILE listing them",
            T::PLURAL
        );
    }
    let stored = T::list(store, None)?;
    let mut ids: Vec<Uuid> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let namespaces = if args.namespaces.is_empty() {
        vec![default_namespace(&[])]
    } else {
        args.namespaces.clone()
    };
    for name in &args.names {
        for ns in &namespaces {
            match stored.iter().find(|s| {
                s.namespace() == ns
                    && (s.name() == Some(name) || s.id().is_some_and(|id| id.to_string() == *name))
            }) {
                Some(s) => ids.extend(s.id()),
                None => missing.push(format!("{} {ns}/{name}", T::KIND)),
            }
        }
    }
    if !args.files.is_empty() {
        let entries = read_files::<T>(&args.files, &default_namespace(&args.namespaces))?;
        if entries.is_empty() {
            bail!(
                "delete {}: the file lists no {}; an empty file never deletes everything",
                T::PLURAL,
                T::PLURAL
            );
        }
        let mut errors = Vec::new();
        for entry in entries {
            let say = |issue: &FieldIssue| {
                sentence(
                    &entry.origin,
                    &entry.namespace,
                    T::KIND,
                    entry.name.as_deref(),
                    issue,
                )
            };
            let item = match entry.decoded {
                Ok(item) => item,
                Err(issue) => {
                    errors.push(say(&issue));
                    continue;
                }
            };
            if item.id().is_none() && item.name().is_none() {
                errors.push(say(&FieldIssue::new(
                    "name",
                    "an entry needs a name or an id (delete never picks one for you)",
                )));
                continue;
            }
            match find(&stored, &item) {
                Some(s) => ids.extend(s.id()),
                None => missing.push(format!("{} {}", T::KIND, item.label())),
            }
        }
        if !errors.is_empty() {
            for e in &errors {
                eprintln!("error: {e}");
            }
            bail!("{} error(s): nothing was deleted", errors.len());
        }
    }
    ids.sort();
    ids.dedup();
    let changes = T::delete(store, &ids)?;
    for c in &changes {
        let who = c.name.clone().unwrap_or_else(|| c.id.to_string());
        println!("{} {}/{who} deleted", T::KIND, c.namespace);
    }
    if !missing.is_empty() {
        for m in &missing {
            eprintln!("{m} not found");
        }
        bail!("{} not found", missing.len());
    }
    Ok(())
}

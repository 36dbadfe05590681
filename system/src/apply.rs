//! `weir apply specs|values|charts -f FILE`: reads every file, validates every entry (nothing is
//! written if one is invalid, and every error is printed), then upserts them all in one store
//! transaction and prints, per resource, `created`, `configured` or `unchanged`. `--dry-run` prints the
//! same verdicts and a diff of each changed resource, and writes nothing. Progress of long applies
//! goes to stderr.

use std::time::Instant;

use anyhow::bail;
use weir_codecs::codec::Scheme;
use weir_loader::{Op, Store};

use crate::cli::ApplyArgs;
use crate::resources::{default_namespace, find, read_files, Stored};
use crate::validate::{validate, Check};

/// Above this many entries, `apply` reports its phases on stderr.
const PROGRESS_FROM: usize = 200;

/// `weir apply`.
pub fn apply<T: Check>(args: &ApplyArgs, store: &dyn Store, scheme: &Scheme) -> anyhow::Result<()> {
    let started = Instant::now();
    let entries = read_files::<T>(&args.files, &default_namespace(&args.namespaces))?;
    if entries.is_empty() {
        bail!("no {} in the given file(s): nothing to apply", T::PLURAL);
    }
    let long = entries.len() >= PROGRESS_FROM;
    if long {
        eprintln!("validating {} {}", entries.len(), T::PLURAL);
    }
    let (items, report) = validate(entries, scheme);
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if !report.errors.is_empty() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        bail!(
            "{} error(s) in {} {}: nothing was written",
            report.errors.len(),
            items.len().max(report.errors.len()),
            T::PLURAL
        );
    }
    if args.dry_run {
        return dry_run(&items, store);
    }
    if long {
        eprintln!("writing {} {} in one transaction", items.len(), T::PLURAL);
    }
    let labels: Vec<(String, Option<uuid::Uuid>, Option<String>, String)> = items
        .iter()
        .map(|i| {
            (
                i.namespace().to_string(),
                i.id(),
                i.name().map(str::to_string),
                i.label(),
            )
        })
        .collect();
    let changes = T::write(store, items)?;
    for (ns, id, name, label) in labels {
        let change = changes.iter().find(|c| {
            id.is_some_and(|id| c.id == id) || (c.namespace == ns && name.is_some() && c.name == name)
        });
        let verdict = match change.map(|c| c.op) {
            Some(Op::Store) => "created",
            Some(Op::Swap) => "configured",
            Some(Op::Delete) => "deleted",
            None => "unchanged",
        };
        println!("{} {label} {verdict}", T::KIND);
    }
    if long {
        eprintln!("applied {} change(s) in {:.1?}", changes.len(), started.elapsed());
    }
    Ok(())
}

/// Prints what `apply` would do, with a diff per changed resource.
fn dry_run<T: Stored>(items: &[T], store: &dyn Store) -> anyhow::Result<()> {
    let stored = T::list(store, None)?;
    for item in items {
        let label = item.label();
        match find(&stored, item) {
            None => {
                println!("{} {label} created (dry run)", T::KIND);
                print!("{}", crate::output::diff("", &serde_yaml_ng::to_string(item)?));
            }
            Some(old) => {
                let mut new = item.clone();
                if let Some(id) = old.id() {
                    new.set_id(id);
                }
                if &new == old {
                    println!("{} {label} unchanged (dry run)", T::KIND);
                } else {
                    println!("{} {label} configured (dry run)", T::KIND);
                    let before = serde_yaml_ng::to_string(old)?;
                    let after = serde_yaml_ng::to_string(&new)?;
                    print!("{}", crate::output::diff(&before, &after));
                }
            }
        }
    }
    Ok(())
}

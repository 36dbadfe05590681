//! The host: a store, one symbol table and loader per namespace, and a clean shutdown on SIGINT or
//! SIGTERM (every table closes, upstream first: listeners stop taking requests and drain, `term` ports
//! run).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Mutex;
use weir_codecs::resource::{parse_specs, parse_values, read_entries, Format};
use weir_loader::{Loader, Store};
use weir_symbols::{HostEnv, Table};

use crate::cli::StartArgs;
use crate::settings::Settings;
use crate::store::open_store;

fn parse_env(pairs: &[String]) -> anyhow::Result<HostEnv> {
    let mut env = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--env \"{p}\": expected KEY=VALUE");
        };
        env.insert(k.to_string(), v.to_string());
    }
    Ok(env)
}

/// Which entries of a file name their namespace.
fn named_namespaces(text: &str, format: Format) -> Vec<bool> {
    read_entries(text, format)
        .map(|es| es.iter().map(|e| e.get("namespace").is_some()).collect())
        .unwrap_or_default()
}

fn read(path: &Path) -> anyhow::Result<(String, Format)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let format = Format::detect(path, &text);
    Ok((text, format))
}

fn load_files(store: &dyn Store, args: &StartArgs) -> anyhow::Result<()> {
    let default_ns = args
        .namespaces
        .first()
        .cloned()
        .unwrap_or_else(|| "default".into());
    if !args.from_charts.is_empty() {
        bail!("--from-charts: charts are not supported yet");
    }
    for path in &args.from_values {
        let (text, format) = read(path)?;
        let named = named_namespaces(&text, format);
        let mut values =
            parse_values(&text, format).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, v) in values.iter_mut().enumerate() {
            if !named.get(i).copied().unwrap_or(false) {
                v.namespace.clone_from(&default_ns);
            }
        }
        store
            .apply_values(values)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    for path in &args.from_specs {
        let (text, format) = read(path)?;
        let named = named_namespaces(&text, format);
        let mut specs = parse_specs(&text, format).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, s) in specs.iter_mut().enumerate() {
            if !named.get(i).copied().unwrap_or(false) {
                s.namespace.clone_from(&default_ns);
            }
        }
        store
            .apply_specs(specs)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// SIGINT and SIGTERM, registered when made: a signal that arrives while specs are still loading
/// (or right after the `listening` line) is held for [`Signals::recv`] instead of killing the process
/// by the default action.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `weir start`.
pub async fn start(args: &StartArgs, settings: &Settings) -> anyhow::Result<()> {
    let mut signals = Signals::register()?;
    let store = open_store(&settings.store)?;
    let host_env = parse_env(&args.env)?;
    load_files(store.as_ref(), args)?;
    let services = crate::system_ns::services(store.clone());
    let scheme = crate::system_ns::scheme(&services);
    let _events = crate::system_ns::publish_events(&services);
    let mut namespaces = if args.namespaces.is_empty() {
        store.namespaces()?
    } else {
        args.namespaces.clone()
    };
    // `system` runs below, on its own address (unless --no-system).
    namespaces.retain(|ns| ns != weir_engine::channel::SYSTEM);
    if namespaces.is_empty() && args.no_system {
        tracing::warn!("no namespace to run: the store has no specs and no -n was given");
    }
    let mut tables = Vec::new();
    let mut loaders = Vec::new();
    for ns in &namespaces {
        let table = Arc::new(Mutex::new(Table::new(
            ns.clone(),
            scheme.clone(),
            host_env.clone(),
        )));
        let loader = Loader::new(store.clone(), table.clone());
        loader.reload().await?;
        for (_, name, status) in table.lock().await.statuses() {
            tracing::info!(namespace = %ns, spec = %name, "{status:?}");
        }
        loaders.push(tokio::spawn(async move {
            if let Err(e) = loader.run().await {
                tracing::error!("loader stopped: {e}");
            }
        }));
        tables.push(table);
    }
    if !args.no_system {
        let system =
            crate::system_ns::start(&store, scheme.clone(), &host_env, &settings.system_addr).await?;
        loaders.push(system.loader);
        tables.push(system.table);
    }
    signals.recv().await;
    tracing::info!("shutting down");
    for l in &loaders {
        l.abort();
    }
    for t in &tables {
        t.lock().await.shutdown(std::time::Duration::from_secs(10)).await;
    }
    let left = weir_engine::drain::wait(std::time::Duration::from_secs(30)).await;
    if left > 0 {
        tracing::warn!("{left} listener(s) still draining at exit");
    }
    Ok(())
}

//! The host: a store, the namespaces it runs (`runtimes.rs`: every namespace of the store, followed
//! as they come and go, unless `-n` names some), and a clean shutdown on SIGINT or SIGTERM (every
//! table closes, upstream first: listeners stop taking requests and drain, `term` ports run).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{Chart, Spec, ValueResource};
use weir_loader::Store;
use weir_symbols::HostEnv;

use weir_engine::channel::SYSTEM;

use crate::cli::StartArgs;
use crate::resources::{default_namespace, read_files};
use crate::runtimes::Runtimes;
use crate::settings::Settings;
use crate::store::open_store;
use crate::validate::{validate, Check};

/// How long a namespace's `term` ports may take at shutdown.
const TERM_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) fn parse_env(pairs: &[String]) -> anyhow::Result<HostEnv> {
    let mut env = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--env \"{p}\": expected KEY=VALUE");
        };
        env.insert(k.to_string(), v.to_string());
    }
    Ok(env)
}

/// Validates and stores the resources of `files` (entries without a namespace get `default_ns`), as
/// `weir apply` does.
fn load<T: Check>(
    store: &dyn Store,
    scheme: &Scheme,
    files: &[PathBuf],
    default_ns: &str,
) -> anyhow::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let (items, report) = validate(read_files::<T>(files, default_ns)?, scheme);
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    if !report.errors.is_empty() {
        bail!("--from-{}: {}", T::PLURAL, report.errors.join("\n"));
    }
    T::write(store, items).map_err(|e| anyhow::anyhow!("--from-{}: {e}", T::PLURAL))?;
    Ok(())
}

pub(crate) fn load_files(store: &dyn Store, scheme: &Scheme, args: &StartArgs) -> anyhow::Result<()> {
    let default_ns = default_namespace(&args.namespaces);
    load::<ValueResource>(store, scheme, &args.from_values, &default_ns)?;
    load::<Chart>(store, scheme, &args.from_charts, &default_ns)?;
    load::<Spec>(store, scheme, &args.from_specs, &default_ns)
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
    let services = crate::system_ns::services(store.clone());
    let scheme = crate::system_ns::scheme(&services);
    let _events = crate::system_ns::publish_events(&services);
    load_files(store.as_ref(), &scheme, args)?;
    let mut runtimes = Runtimes::new(store.clone(), scheme.clone(), host_env.clone())
        .excluding(SYSTEM)
        .with_services(services.clone());
    let follow = args.namespaces.is_empty();
    let namespaces = if follow {
        store.namespaces()?
    } else {
        args.namespaces.clone()
    };
    if follow && namespaces.iter().all(|ns| ns == SYSTEM) {
        tracing::info!("the store has no specs yet: namespaces start as they are applied");
    }
    for ns in &namespaces {
        runtimes.start(ns).await?;
    }
    // `system` runs on its own address (unless --no-system), apart from the other namespaces, once
    // they are loaded: its API can reach them from its first request.
    let system = if args.no_system {
        None
    } else {
        let system = crate::system_ns::start(&store, scheme, &host_env, &settings.system_addr).await?;
        services.add_table(SYSTEM, system.table.clone());
        Some(system)
    };
    if follow {
        runtimes.follow(signals.recv()).await;
    } else {
        signals.recv().await;
    }
    tracing::info!("shutting down");
    runtimes.stop_all().await;
    if let Some(system) = system {
        system.loader.abort();
        system.table.lock().await.shutdown(TERM_WITHIN).await;
    }
    let left = weir_engine::drain::wait(std::time::Duration::from_secs(30)).await;
    if left > 0 {
        tracing::warn!("{left} listener(s) still draining at exit");
    }
    Ok(())
}

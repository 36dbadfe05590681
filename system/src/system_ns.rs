//! The built-in `system` namespace on the host side: the services its kinds hold (the store, the
//! channels hub, the scheme), the store's change events published to the channels, the seeding of
//! `system/system.yaml` into a store without a `system` namespace, and running `system` like any
//! namespace with its listener on `system_addr`.
//!
//! The listener spec in `system.yaml` takes its address from the host env keys
//! `WEIR_SYSTEM_HOST` and `WEIR_SYSTEM_PORT`, set here only for the `system` table. An address other
//! than loopback needs an access token in the store; a listener that cannot bind (a busy address) is
//! a startup error; the address it bound (port 0 resolved) is protected from other namespaces'
//! nodes (`weir_codecs::guard`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Mutex;
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{parse_specs, Format};
use weir_engine::channel::{Channels, SYSTEM};
use weir_extensions::system::{self, SystemServices};
use weir_loader::{Loader, Store};
use weir_symbols::{HostEnv, Table};

/// `system_addr` when nothing sets it.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7777";

/// The system namespace's workflow, seeded into a store that has none.
pub const SYSTEM_YAML: &str = include_str!("../system.yaml");

/// How many events each channel subscriber may have queued.
const CHANNEL_QUEUE: usize = 1024;

/// The services the system kinds hold, over `store`, with a fresh channels hub.
pub fn services(store: Arc<dyn Store>) -> Arc<SystemServices> {
    SystemServices::new(store, Channels::new(CHANNEL_QUEUE))
}

/// Every built-in kind, the system kinds holding `services` among them.
pub fn scheme(services: &Arc<SystemServices>) -> Arc<Scheme> {
    let mut scheme = weir_extensions::scheme();
    system::register(&mut scheme, services.clone());
    let scheme = Arc::new(scheme);
    services.set_scheme(&scheme);
    scheme
}

/// Publishes the store's change events to the channels' store topics until the store goes away.
pub fn publish_events(services: &Arc<SystemServices>) -> tokio::task::JoinHandle<()> {
    let mut events = services.store.watch();
    let channels = services.channels.clone();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(e) => system::offer_event(&channels, &e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("store topics: {n} change event(s) dropped, the publisher fell behind");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Stores `system.yaml` when the store has no spec in `system`. Returns whether it did.
pub fn seed(store: &dyn Store) -> anyhow::Result<bool> {
    if !store.specs(Some(SYSTEM))?.is_empty() {
        return Ok(false);
    }
    let specs = parse_specs(SYSTEM_YAML, Format::Yaml).map_err(|e| anyhow::anyhow!("system.yaml: {e}"))?;
    store
        .apply_specs(specs)
        .map_err(|e| anyhow::anyhow!("seeding system.yaml: {e}"))?;
    tracing::info!("seeded the system namespace from system.yaml");
    Ok(true)
}

/// Resolves `addr` and checks that binding it is allowed: anywhere but loopback needs a token.
fn resolve(addr: &str, store: &dyn Store) -> anyhow::Result<SocketAddr> {
    let wanted = addr
        .to_socket_addrs()
        .with_context(|| format!("system address {addr:?}: expected HOST:PORT"))?
        .next()
        .with_context(|| format!("system address {addr:?} resolves to no address"))?;
    if !wanted.ip().is_loopback() {
        let has_token = system::token_required(store).map_err(|e| anyhow::anyhow!("{e}"))?;
        if !has_token {
            bail!(
                "system address {wanted} is not loopback: the system API needs an access token there; \
                 store a Value in namespace \"system\" named \"{}<x>\" with data {{token: ...}} first \
                 (e.g. with --from-values)",
                system::TOKEN_PREFIX
            );
        }
    }
    Ok(wanted)
}

/// A running `system` namespace.
pub struct Running {
    pub table: Arc<Mutex<Table>>,
    pub loader: tokio::task::JoinHandle<()>,
}

/// Seeds and runs `system`, its listener on `addr`. Fails when the listener does not come up.
pub async fn start(
    store: &Arc<dyn Store>,
    scheme: Arc<Scheme>,
    host_env: &HostEnv,
    addr: &str,
) -> anyhow::Result<Running> {
    seed(store.as_ref())?;
    let wanted = resolve(addr, store.as_ref())?;
    let mut env = host_env.clone();
    env.insert("WEIR_SYSTEM_HOST".into(), wanted.ip().to_string());
    env.insert("WEIR_SYSTEM_PORT".into(), wanted.port().to_string());
    let table = Arc::new(Mutex::new(Table::new(SYSTEM, scheme, env)));
    let loader = Loader::new(store.clone(), table.clone());
    loader.reload().await?;
    let label = format!("{SYSTEM}/listener");
    let bound = weir_extensions::net::bound_addr;
    {
        let t = table.lock().await;
        for (_, name, status) in t.statuses() {
            tracing::debug!(namespace = SYSTEM, spec = %name, "{status:?}");
        }
        match t.status("listener") {
            Some(weir_symbols::Status::Inactive(why)) => {
                bail!("the system listener on {wanted} did not start: {why}")
            }
            Some(weir_symbols::Status::Active) if bound(&label).is_none() => {
                // It loaded but did not bind: say why, as binding it now does.
                let why = std::net::TcpListener::bind(wanted)
                    .err()
                    .map_or_else(|| "see the log".to_string(), |e| e.to_string());
                bail!("the system listener on {wanted} did not start: {why}")
            }
            _ => {}
        }
    }
    // Protect the address the listener really bound (port 0 resolved), or the one asked for.
    weir_codecs::guard::protect_addr(bound(&label).unwrap_or(wanted));
    let loader = tokio::spawn(async move {
        if let Err(e) = loader.run().await {
            tracing::error!("system loader stopped: {e}");
        }
    });
    Ok(Running { table, loader })
}

#[cfg(test)]
#[path = "system_ns_tests.rs"]
mod tests;

//! Opening the store a command names (`--store`, `WEIR_STORE`, `weir.toml`, then the default
//! `sqlite://.weir/weir.db`; see `settings.rs`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use weir_loader::{MemoryStore, Store};

/// Opens `memory://` or `sqlite://PATH`.
pub fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    match url.split_once("://").map(|(s, _)| s) {
        Some("memory") => Ok(Arc::new(MemoryStore::new())),
        Some("sqlite") => {
            let path = url.split_once("://").map_or("", |(_, p)| p);
            if path.is_empty() {
                bail!("store \"{url}\": expected a file path, as in sqlite://.weir/weir.db");
            }
            let store = weir_loader::SqliteStore::open(Path::new(path))
                .with_context(|| format!("store \"{url}\""))?;
            weir_codecs::guard::protect_path(Path::new(path));
            Ok(Arc::new(store))
        }
        Some(other) => {
            bail!("store \"{url}\": the {other} store is not supported yet (use memory:// or sqlite://PATH)")
        }
        None => bail!("store \"{url}\": expected a URL such as memory:// or sqlite://PATH"),
    }
}

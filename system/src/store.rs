//! Opening the store a command names (`--store`, `WEIR_STORE`, `weir.toml`, then the default
//! `sqlite://.weir/weir.db`; see `settings.rs`): `memory://`, `sqlite://PATH`, or a MongoDB replica
//! set (`mongodb://…`, `mongodb+srv://…`, through weir-loader-mongo).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use weir_loader::{MemoryStore, Store};

/// Opens `memory://`, `sqlite://PATH` or `mongodb://…`.
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
        // Its errors name the URL with the password masked; never add the raw URL here.
        Some("mongodb" | "mongodb+srv") => Ok(Arc::new(weir_loader_mongo::MongoStore::open(url)?)),
        Some(other) => {
            bail!(
                "store \"{}\": no {other} store (use memory://, sqlite://PATH or mongodb://HOST/DATABASE)",
                weir_loader_mongo::redact(url)
            )
        }
        None => bail!(
            "store \"{}\": expected a URL such as memory://, sqlite://PATH or mongodb://HOST/DATABASE",
            weir_loader_mongo::redact(url)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mongodb_url_opens_the_mongodb_store() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let url = format!("mongodb://weir:pw@127.0.0.1:{port}/weir?serverSelectionTimeoutMS=200");
        let Err(e) = open_store(&url) else {
            panic!("no server listens on port {port}");
        };
        let e = format!("{e:#}");
        assert!(e.contains("MongoDB at \"mongodb://weir:***@127.0.0.1"), "{e}");
        assert!(e.contains("--replSet rs0") && !e.contains(":pw@"), "{e}");
    }

    #[test]
    fn an_unknown_scheme_names_the_supported_ones() {
        let Err(e) = open_store("postgres://u:secret@h/db") else {
            panic!("postgres:// opened");
        };
        let e = e.to_string();
        assert!(e.contains("no postgres store") && e.contains("mongodb://"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}

//! What nodes outside the `system` namespace may not touch (DESIGN.md, Namespaces): the store's own
//! files and the system listener's address. The host registers them once at start-up
//! ([`protect_path`], [`protect_addr`]); node kinds that open files (`file`, `sql`, `print`) or connect
//! to addresses (`http`, `proxy`, `websocket`) ask [`check_path`] / [`check_addr`] before they do.
//!
//! The registry is process-wide because one `weir` process hosts one store and one system listener.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The namespace whose nodes are allowed everything.
pub const SYSTEM_NAMESPACE: &str = "system";

/// A refused file or address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("namespace {namespace}: {path} is one of the store's own files; only the system namespace may open it")]
    StoreFile { namespace: String, path: String },
    #[error(
        "namespace {namespace}: {addr} is the system listener; only the system namespace may connect to it"
    )]
    SystemAddr { namespace: String, addr: String },
}

#[derive(Default)]
struct Protected {
    /// Canonical paths of protected files (a SQLite store also protects its `-wal`, `-shm` and
    /// `-journal` siblings: see [`protect_path`]).
    paths: Vec<PathBuf>,
    addrs: Vec<SocketAddr>,
}

static PROTECTED: RwLock<Protected> = RwLock::new(Protected {
    paths: Vec::new(),
    addrs: Vec::new(),
});

/// Protects `path` and its SQLite siblings (`-wal`, `-shm`, `-journal`). The file need not exist yet.
pub fn protect_path(path: &Path) {
    let base = absolute(path);
    let mut list = vec![base.clone()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = base.clone().into_os_string();
        s.push(suffix);
        list.push(PathBuf::from(s));
    }
    let mut p = PROTECTED.write().unwrap_or_else(|e| e.into_inner());
    for l in list {
        if !p.paths.contains(&l) {
            p.paths.push(l);
        }
    }
}

/// Protects a listening address (the system listener's bound address).
pub fn protect_addr(addr: SocketAddr) {
    let mut p = PROTECTED.write().unwrap_or_else(|e| e.into_inner());
    if !p.addrs.contains(&addr) {
        p.addrs.push(addr);
    }
}

/// Forgets everything protected (tests that start several hosts in one process).
pub fn clear() {
    let mut p = PROTECTED.write().unwrap_or_else(|e| e.into_inner());
    p.paths.clear();
    p.addrs.clear();
}

/// Refuses a file a node of `namespace` is about to open when it is one of the store's files.
/// Symbolic links and `..` are resolved first, so a link to the store is refused too.
pub fn check_path(namespace: &str, path: &Path) -> Result<(), GuardError> {
    if namespace == SYSTEM_NAMESPACE {
        return Ok(());
    }
    let p = PROTECTED.read().unwrap_or_else(|e| e.into_inner());
    if p.paths.is_empty() {
        return Ok(());
    }
    let wanted = absolute(path);
    if p.paths.contains(&wanted) {
        return Err(GuardError::StoreFile {
            namespace: namespace.to_string(),
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// Refuses an address a node of `namespace` is about to connect to when it is the system listener:
/// the same port on the same IP, on a loopback IP, or on any IP when the listener is bound to all.
pub fn check_addr(namespace: &str, addr: SocketAddr) -> Result<(), GuardError> {
    if namespace == SYSTEM_NAMESPACE {
        return Ok(());
    }
    let p = PROTECTED.read().unwrap_or_else(|e| e.into_inner());
    for bound in &p.addrs {
        if bound.port() != addr.port() {
            continue;
        }
        let same = bound.ip() == addr.ip()
            || addr.ip().is_loopback()
            || addr.ip().is_unspecified()
            || bound.ip().is_unspecified()
            || is_local(addr.ip());
        if same {
            return Err(GuardError::SystemAddr {
                namespace: namespace.to_string(),
                addr: addr.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether `ip` is one of this machine's addresses (bindable here).
fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

/// `path` made absolute with links and `..` resolved as far as the file system allows: the longest
/// existing ancestor is canonicalized and the rest appended.
fn absolute(path: &Path) -> PathBuf {
    if let Ok(c) = path.canonicalize() {
        return c;
    }
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut rest = Vec::new();
    let mut cur = joined.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return joined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, because the registry is process-wide.
    #[test]
    fn store_files_and_the_system_address_are_refused_outside_system() {
        clear();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("weir.db");
        std::fs::write(&db, b"").unwrap();
        protect_path(&db);
        let via_dots = dir.path().join("sub").join("..").join("weir.db");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let err = check_path("default", &via_dots).unwrap_err();
        assert!(err.to_string().starts_with("namespace default: "), "{err}");
        assert!(check_path("default", &dir.path().join("weir.db-wal")).is_err());
        assert!(check_path("default", &dir.path().join("other.db")).is_ok());
        assert!(check_path("system", &db).is_ok());
        #[cfg(unix)]
        {
            let link = dir.path().join("link.db");
            std::os::unix::fs::symlink(&db, &link).unwrap();
            assert!(check_path("default", &link).is_err());
        }

        let sys: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        protect_addr(sys);
        assert!(check_addr("default", sys).is_err());
        assert!(check_addr("default", "127.0.0.2:7777".parse().unwrap()).is_err());
        assert!(check_addr("default", "[::1]:7777".parse().unwrap()).is_err());
        assert!(check_addr("default", "127.0.0.1:7778".parse().unwrap()).is_ok());
        assert!(check_addr("default", "192.0.2.1:7777".parse().unwrap()).is_ok());
        assert!(check_addr("system", sys).is_ok());
        clear();
        assert!(check_path("default", &db).is_ok());
    }
}

//! The hand-off of an HTTP/1.1 connection from the listener to a `gateway`: the listener offers the
//! request's pending upgrade under the request's process, the gateway takes it (from that process or
//! an ancestor) and answers `101`; the listener then leaves the process to the gateway. An offer not
//! taken is dropped when the process exits.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use parking_lot::Mutex;
use weir_engine::{Process, ProcessId};

static OFFERS: Mutex<Option<HashMap<ProcessId, OnUpgrade>>> = Mutex::new(None);

/// True when the request asks to switch protocols (`Connection: upgrade` and an `Upgrade` header).
pub(crate) fn requested(headers: &http::HeaderMap) -> bool {
    let connection_upgrade = headers.get_all(http::header::CONNECTION).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    connection_upgrade && headers.contains_key(http::header::UPGRADE)
}

/// Offers `upgrade` under `process` until it is taken or the process exits.
pub(crate) fn offer(process: &Arc<Process>, upgrade: OnUpgrade) {
    let id = process.id();
    OFFERS.lock().get_or_insert_with(HashMap::new).insert(id, upgrade);
    process.on_exit(move |_| {
        if let Some(map) = OFFERS.lock().as_mut() {
            map.remove(&id);
        }
    });
}

/// Takes the upgrade offered under `process` or its nearest ancestor.
pub(crate) fn take(process: &Arc<Process>) -> Option<OnUpgrade> {
    let mut offers = OFFERS.lock();
    let map = offers.as_mut()?;
    let mut p = Some(process);
    while let Some(cur) = p {
        if let Some(u) = map.remove(&cur.id()) {
            return Some(u);
        }
        p = cur.parent();
    }
    None
}

/// True while an upgrade offered under exactly `process` has not been taken.
pub(crate) fn pending(process: &Process) -> bool {
    OFFERS
        .lock()
        .as_ref()
        .is_some_and(|m| m.contains_key(&process.id()))
}

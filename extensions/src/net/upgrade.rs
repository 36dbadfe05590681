//! The hand-off of an HTTP/1.1 connection from the listener to a `gateway`: the listener offers the
//! request's pending upgrade under the request's process, the gateway takes it (from that process or
//! an ancestor) and answers `101`; the listener then leaves the process to the gateway. An offer not
//! taken is dropped when the process exits.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::upgrade::OnUpgrade;
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use weir_engine::{Process, ProcessId, Value};

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

/// The first value of a header in a payload's `header` map (names matched case-insensitively).
fn header<'a>(request: &'a Value, name: &str) -> Option<&'a str> {
    let headers = request.get("header")?.as_map()?;
    let (_, v) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
    match v {
        Value::List(l) => l.first().and_then(Value::as_str),
        v => v.as_str(),
    }
}

/// Checks that a listener's request payload asks for a WebSocket and takes its connection: the
/// pending upgrade and the `101` response to answer the request with. The message says what is wrong.
pub(crate) fn websocket(request: &Value, process: &Arc<Process>) -> Result<(OnUpgrade, Value), String> {
    if request.as_map().is_none() {
        return Err(format!("expected an HTTP request, got {}", request.type_name()));
    }
    let wants = header(request, "Upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let key = header(request, "Sec-WebSocket-Key").filter(|k| !k.trim().is_empty());
    let (true, Some(key)) = (wants, key) else {
        return Err("not a WebSocket upgrade request (Upgrade: websocket and Sec-WebSocket-Key)".to_string());
    };
    if header(request, "Sec-WebSocket-Version").is_some_and(|v| v.trim() != "13") {
        return Err("unsupported Sec-WebSocket-Version; only 13 is".to_string());
    }
    let accept = derive_accept_key(key.trim().as_bytes());
    let Some(pending) = take(process) else {
        return Err(
            "the request cannot be upgraded: it did not come over HTTP/1.1 from a listener, or was taken already"
                .to_string(),
        );
    };
    let response = Value::from(&serde_json::json!({
        "status": 101,
        "header": {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept},
    }));
    Ok((pending, response))
}

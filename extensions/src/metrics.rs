//! Process-wide counters that nodes keep and `/metrics` reports (the `metrics.read` opcode of
//! `syscall`). Kept small: requests served per listener, by namespace and node. A counter lives as
//! long as the process, so it survives a listener's reload (a swapped listener keeps counting on).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

/// Counters by (namespace, node name).
type ByNode = BTreeMap<(String, String), Arc<AtomicU64>>;

/// Requests served, by (namespace, listener name).
static HTTP_REQUESTS: LazyLock<Mutex<ByNode>> = LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The request counter of the listener `name` in `namespace` (made on first use).
pub fn http_requests(namespace: &str, name: &str) -> Arc<AtomicU64> {
    HTTP_REQUESTS
        .lock()
        .entry((namespace.to_string(), name.to_string()))
        .or_default()
        .clone()
}

/// Every listener's requests served so far: ((namespace, name), count), in order.
pub fn http_requests_now() -> Vec<((String, String), u64)> {
    HTTP_REQUESTS
        .lock()
        .iter()
        .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
        .collect()
}

/// A Prometheus label value, escaped (`\`, `"` and newlines).
pub fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_counter_is_shared_by_name_and_listed() {
        let a = http_requests("metrics-test", "l");
        let b = http_requests("metrics-test", "l");
        a.fetch_add(2, Ordering::Relaxed);
        b.fetch_add(1, Ordering::Relaxed);
        let now = http_requests_now();
        let (_, n) = now
            .iter()
            .find(|((ns, name), _)| ns == "metrics-test" && name == "l")
            .unwrap();
        assert_eq!(*n, 3);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! The `metrics.read` opcode of `syscall`: the host's counters in Prometheus' text format (0.0.4),
//! within the caller's reach, for `GET /metrics`. Kept small and true:
//! - `weir_specs{namespace, status}`: specs in the store, by the status the host running them last
//!   recorded (`active`, `inactive`, or `unknown` when no host runs the namespace);
//! - `weir_jobs{namespace, status}`: the jobs this host keeps (running and recently finished);
//! - `weir_http_requests_total{namespace, listener}`: requests each listener of this host received.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use weir_engine::{Result, Value};

use super::ops::{store_error, Scope};
use super::SystemServices;
use crate::metrics::{http_requests_now, label};

/// Appends one metric family: its help, type and samples `(labels, value)`.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(Vec<(&str, &str)>, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {value}", labels.join(","));
    }
}

/// Samples labelled by namespace and status.
fn by_status<'a>(m: &'a BTreeMap<(String, &'static str), u64>) -> Vec<(Vec<(&'a str, &'a str)>, u64)> {
    m.iter()
        .map(|((ns, st), n)| (vec![("namespace", ns.as_str()), ("status", *st)], *n))
        .collect()
}

/// The metrics text, counting only what `scope` reaches.
pub(crate) fn read(services: &SystemServices, scope: &Scope) -> Result<Value> {
    let store = services.store.as_ref();
    let statuses: HashMap<_, _> = store
        .statuses(None)
        .map_err(store_error)?
        .into_iter()
        .map(|s| (s.id, s.is_active()))
        .collect();
    let mut specs: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for spec in store.specs(None).map_err(store_error)? {
        if !scope.allows(&spec.namespace) {
            continue;
        }
        let status = match spec.id.and_then(|id| statuses.get(&id)) {
            None => "unknown",
            Some(true) => "active",
            Some(false) => "inactive",
        };
        *specs.entry((spec.namespace.clone(), status)).or_default() += 1;
    }
    let mut jobs: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for job in services.jobs.list() {
        if scope.allows(job.namespace()) {
            *jobs
                .entry((job.namespace().to_string(), job.status().as_str()))
                .or_default() += 1;
        }
    }
    let requests: Vec<((String, String), u64)> = http_requests_now()
        .into_iter()
        .filter(|((ns, _), _)| scope.allows(ns))
        .collect();

    let mut out = String::new();
    family(
        &mut out,
        "weir_specs",
        "gauge",
        "Specs in the store, by namespace and the status their host last recorded.",
        &by_status(&specs),
    );
    family(
        &mut out,
        "weir_jobs",
        "gauge",
        "Jobs this host keeps (running and recently finished), by namespace and status.",
        &by_status(&jobs),
    );
    let samples: Vec<(Vec<(&str, &str)>, u64)> = requests
        .iter()
        .map(|((ns, name), n)| (vec![("namespace", ns.as_str()), ("listener", name.as_str())], *n))
        .collect();
    family(
        &mut out,
        "weir_http_requests_total",
        "counter",
        "Requests received by each listener of this host.",
        &samples,
    );
    Ok(Value::from(out))
}

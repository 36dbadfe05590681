//! Port names in specs mapped to engine ports, and references resolved within a namespace.

use uuid::Uuid;
use weir_codecs::resource::{FieldError, FieldIssue, PortBase, PortName, PortRef, Spec, IO_PORT};
use weir_engine::OutPort;

use crate::graph::{Graph, RefKey};

/// A symbol's resolved links: each out port of its `ports` → (target id, in port).
pub(crate) type Links = Vec<(Source, Vec<(Uuid, usize)>)>;

/// What resolving a spec's `ports` gives: its links, the problems (one sentence), the keys it refers to.
pub(crate) struct Resolved {
    pub links: Links,
    pub error: Option<String>,
    pub refs: Vec<RefKey>,
}

/// Resolves `spec`'s references within the namespace: by id when that symbol `exists`, else by name.
pub(crate) fn resolve(spec: &Spec, graph: &Graph, exists: impl Fn(&Uuid) -> bool) -> Resolved {
    let mut links: Links = Vec::new();
    let mut errors = Vec::new();
    let mut refs = Vec::new();
    let error = |field: String, message: String| {
        FieldError::for_spec(spec, FieldIssue::new(field, message)).to_string()
    };
    for (port, targets) in &spec.ports {
        for k in targets.iter().flat_map(RefKey::of) {
            if !refs.contains(&k) {
                refs.push(k);
            }
        }
        let source = match source_port(port) {
            Ok(s) => s,
            Err(e) => {
                errors.push(error(format!("ports.{port}"), e));
                continue;
            }
        };
        let mut resolved = Vec::new();
        for (i, r) in targets.iter().enumerate() {
            let target =
                r.id.filter(|id| exists(id))
                    .or_else(|| r.name.as_deref().and_then(|n| graph.named(n)));
            match (target, target_port(&r.port)) {
                (Some(t), Ok(p)) => resolved.push((t, p)),
                (None, _) => errors.push(error(
                    format!("ports.{port}[{i}]"),
                    format!("spec {} not found in this namespace", describe(r)),
                )),
                (_, Err(e)) => errors.push(error(format!("ports.{port}[{i}].port"), e)),
            }
        }
        links.push((source, resolved));
    }
    Resolved {
        links,
        error: if errors.is_empty() {
            None
        } else {
            Some(errors.join("; "))
        },
        refs,
    }
}

/// The symbols `links` point at.
pub(crate) fn targets(links: &Links) -> Vec<Uuid> {
    links
        .iter()
        .flat_map(|(_, ts)| ts.iter().map(|(id, _)| *id))
        .collect()
}

/// What an out-port key of a spec's `ports` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A data port the node emits on.
    Out(OutPort),
    /// `init`: written once when the node becomes active.
    Init,
    /// `term`: written once when the node stops.
    Term,
}

pub(crate) fn source_port(name: &str) -> Result<Source, String> {
    let p = PortName::parse(name).map_err(|e| e.to_string())?;
    match (p.base, p.index) {
        (PortBase::Out, i) => Ok(Source::Out(OutPort::Out(i.unwrap_or(0)))),
        (PortBase::Error, None | Some(0)) => Ok(Source::Out(OutPort::Error)),
        (PortBase::Init, None) => Ok(Source::Init),
        (PortBase::Term, None) => Ok(Source::Term),
        _ => Err(format!(
            "\"{name}\" is not an out port (use out, out[N], error, init or term)"
        )),
    }
}

/// The engine in-port index of a target port name: `in` is 0, `in[N]` is N, `io` is [`IO_PORT`].
pub(crate) fn target_port(name: &str) -> Result<usize, String> {
    let p = PortName::parse(name).map_err(|e| e.to_string())?;
    match (p.base, p.index) {
        (PortBase::In, i) => Ok(i.unwrap_or(0)),
        (PortBase::Io, None) => Ok(IO_PORT),
        _ => Err(format!(
            "port \"{name}\" cannot be linked to (in ports are in, in[N] and io)"
        )),
    }
}

/// How a reference reads in messages: `"name"` or the id.
pub(crate) fn describe(r: &PortRef) -> String {
    match (&r.name, &r.id) {
        (Some(n), _) => format!("\"{n}\""),
        (None, Some(id)) => id.to_string(),
        (None, None) => "(no name or id)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_port_names() {
        assert_eq!(source_port("out"), Ok(Source::Out(OutPort::Out(0))));
        assert_eq!(source_port("out[2]"), Ok(Source::Out(OutPort::Out(2))));
        assert_eq!(source_port("error"), Ok(Source::Out(OutPort::Error)));
        assert_eq!(source_port("init"), Ok(Source::Init));
        assert!(source_port("in").is_err());
        assert_eq!(target_port("in"), Ok(0));
        assert_eq!(target_port("in[1]"), Ok(1));
        assert_eq!(target_port("io"), Ok(IO_PORT));
        assert!(target_port("out").is_err());
    }
}

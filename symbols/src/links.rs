//! Port names in specs mapped to engine ports, and references resolved within a namespace.

use weir_codecs::resource::{PortBase, PortName, PortRef};
use weir_engine::OutPort;

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

/// The engine in-port index of a target port name: `in` is 0, `in[N]` is N, and `io` is 1 (the
/// second in port of the kinds that have one, as `session` does).
pub(crate) fn target_port(name: &str) -> Result<usize, String> {
    let p = PortName::parse(name).map_err(|e| e.to_string())?;
    match (p.base, p.index) {
        (PortBase::In, i) => Ok(i.unwrap_or(0)),
        (PortBase::Io, None) => Ok(1),
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
        assert_eq!(target_port("io"), Ok(1));
        assert!(target_port("out").is_err());
    }
}

//! Port names as uniflow spells them: `in`, `out`, `error`, `io`, `init`, `term`, and the indexed
//! forms `in[0]`, `out[1]`, `error[2]` used where a node has several ports of one role.

use std::fmt;
use std::str::FromStr;

/// The engine in-port index of `io` (the connection port of `gateway` and `websocket`): apart from
/// `in[N]`, so a kind may have both.
pub const IO_PORT: usize = 32;

/// The role of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortBase {
    In,
    Out,
    Error,
    Io,
    Init,
    Term,
}

impl PortBase {
    pub const ALL: [PortBase; 6] = [
        PortBase::In,
        PortBase::Out,
        PortBase::Error,
        PortBase::Io,
        PortBase::Init,
        PortBase::Term,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PortBase::In => "in",
            PortBase::Out => "out",
            PortBase::Error => "error",
            PortBase::Io => "io",
            PortBase::Init => "init",
            PortBase::Term => "term",
        }
    }

    /// Whether the role comes in numbered instances (`in[0]`, `out[1]`, `error[2]`).
    pub fn indexable(self) -> bool {
        matches!(self, PortBase::In | PortBase::Out | PortBase::Error)
    }
}

impl fmt::Display for PortBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed port name: `out` is `{ base: Out, index: None }`, `out[0]` is `{ base: Out, index: Some(0) }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortName {
    pub base: PortBase,
    pub index: Option<usize>,
}

impl PortName {
    pub const IN: PortName = PortName {
        base: PortBase::In,
        index: None,
    };
    pub const OUT: PortName = PortName {
        base: PortBase::Out,
        index: None,
    };
    pub const ERROR: PortName = PortName {
        base: PortBase::Error,
        index: None,
    };
    pub const IO: PortName = PortName {
        base: PortBase::Io,
        index: None,
    };
    pub const INIT: PortName = PortName {
        base: PortBase::Init,
        index: None,
    };
    pub const TERM: PortName = PortName {
        base: PortBase::Term,
        index: None,
    };

    /// `base[index]`.
    pub fn indexed(base: PortBase, index: usize) -> Self {
        PortName {
            base,
            index: Some(index),
        }
    }

    /// Parses `in`, `out[3]` and the like.
    pub fn parse(s: &str) -> Result<Self, PortNameError> {
        let bad = || PortNameError { name: s.to_string() };
        let (base, index) = match s.split_once('[') {
            None => (s, None),
            Some((base, rest)) => {
                let digits = rest.strip_suffix(']').ok_or_else(bad)?;
                let canonical = !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'));
                if !canonical {
                    return Err(bad());
                }
                (base, Some(digits.parse::<usize>().map_err(|_| bad())?))
            }
        };
        let base = PortBase::ALL
            .into_iter()
            .find(|b| b.as_str() == base)
            .ok_or_else(bad)?;
        if index.is_some() && !base.indexable() {
            return Err(bad());
        }
        Ok(PortName { base, index })
    }
}

impl FromStr for PortName {
    type Err = PortNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PortName::parse(s)
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            None => write!(f, "{}", self.base),
            Some(i) => write!(f, "{}[{i}]", self.base),
        }
    }
}

/// A string that is not a port name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid port name {name:?}: expected in, out, error, io, init or term, or an indexed in[N], out[N] or error[N]"
)]
pub struct PortNameError {
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_port_names() {
        for s in [
            "in",
            "out",
            "error",
            "io",
            "init",
            "term",
            "out[0]",
            "in[1]",
            "error[12]",
        ] {
            assert_eq!(PortName::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            PortName::parse("out[3]").unwrap(),
            PortName::indexed(PortBase::Out, 3)
        );
        assert_eq!("in".parse::<PortName>().unwrap(), PortName::IN);
    }

    #[test]
    fn rejects_what_is_not_a_port_name() {
        for s in [
            "", "foo", "OUT", "out[]", "out[01]", "out[-1]", "out[a]", "out[0", "out 0", "io[0]", "init[1]",
        ] {
            assert!(PortName::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            PortName::parse("outt").unwrap_err().to_string(),
            "invalid port name \"outt\": expected in, out, error, io, init or term, or an indexed in[N], out[N] or error[N]"
        );
    }
}

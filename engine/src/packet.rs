//! Packets: a value plus its lineage. The origin names the process and the index of the entry item a
//! packet descends from, extended by one index each time a node emits several packets for one input, so
//! `zip_all` can pair the branches of one item and a job can say which item an output belongs to.

use std::fmt;
use std::sync::Arc;

use crate::process::ProcessId;
use crate::value::Value;

/// Where a packet comes from: the process and the path of item indexes from the entry item down.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    process: ProcessId,
    path: Arc<[u32]>,
}

impl Origin {
    /// The origin of the `index`-th item written into a process at its entry.
    pub fn entry(process: ProcessId, index: u32) -> Self {
        Origin {
            process,
            path: Arc::from([index].as_slice()),
        }
    }

    /// The origin of the `index`-th packet emitted for one input of this origin.
    pub fn child(&self, index: u32) -> Self {
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend_from_slice(&self.path);
        path.push(index);
        Origin {
            process: self.process,
            path: Arc::from(path),
        }
    }

    pub fn process(&self) -> ProcessId {
        self.process
    }

    pub fn path(&self) -> &[u32] {
        &self.path
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Origin {
    /// `PROCESS/0.2.1`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/", self.process)?;
        for (i, p) in self.path.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A value travelling through a port, with its lineage.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub value: Value,
    pub origin: Origin,
}

impl Packet {
    pub fn new(value: Value, origin: Origin) -> Self {
        Packet { value, origin }
    }

    /// The same lineage, another value (one-to-one nodes keep their input's origin).
    pub fn with_value(&self, value: Value) -> Self {
        Packet {
            value,
            origin: self.origin.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_extends_the_path() {
        let p = ProcessId::new();
        let o = Origin::entry(p, 3).child(1).child(0);
        assert_eq!(o.path(), &[3, 1, 0]);
        assert_eq!(o.process(), p);
        assert!(o.to_string().ends_with("/3.1.0"));
        assert_ne!(Origin::entry(p, 3).child(1), Origin::entry(p, 3).child(2));
    }
}

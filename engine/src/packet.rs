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
    path: Path,
}

/// Paths this long or shorter are kept inline: copying one touches no shared count (every node
/// keeps a copy of its input's origin), and an entry item allocates nothing.
const INLINE: usize = 4;

/// An origin's path: inline when short (almost always), shared when longer.
#[derive(Clone)]
enum Path {
    Inline { len: u8, items: [u32; INLINE] },
    Shared(Arc<[u32]>),
}

impl Path {
    fn new(items: &[u32]) -> Self {
        if items.len() <= INLINE {
            let mut inline = [0; INLINE];
            inline[..items.len()].copy_from_slice(items);
            Path::Inline {
                len: items.len() as u8,
                items: inline,
            }
        } else {
            Path::Shared(Arc::from(items))
        }
    }

    fn as_slice(&self) -> &[u32] {
        match self {
            Path::Inline { len, items } => &items[..usize::from(*len)],
            Path::Shared(items) => items,
        }
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Path {}

impl std::hash::Hash for Path {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl Origin {
    /// The origin of the `index`-th item written into a process at its entry.
    pub fn entry(process: ProcessId, index: u32) -> Self {
        Origin {
            process,
            path: Path::new(&[index]),
        }
    }

    /// The origin of the `index`-th packet emitted for one input of this origin.
    pub fn child(&self, index: u32) -> Self {
        let parent = self.path.as_slice();
        let path = if parent.len() < INLINE {
            let mut items = [0; INLINE];
            items[..parent.len()].copy_from_slice(parent);
            items[parent.len()] = index;
            Path::Inline {
                len: parent.len() as u8 + 1,
                items,
            }
        } else {
            let mut items = Vec::with_capacity(parent.len() + 1);
            items.extend_from_slice(parent);
            items.push(index);
            Path::Shared(Arc::from(items))
        };
        Origin {
            process: self.process,
            path,
        }
    }

    pub fn process(&self) -> ProcessId {
        self.process
    }

    pub fn path(&self) -> &[u32] {
        self.path.as_slice()
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
        for (i, p) in self.path().iter().enumerate() {
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

    #[test]
    fn long_paths_are_shared_and_compare_by_their_items() {
        let p = ProcessId::new();
        let mut o = Origin::entry(p, 0);
        for i in 1..7 {
            o = o.child(i);
        }
        assert_eq!(o.path(), &[0, 1, 2, 3, 4, 5, 6]);
        assert!(matches!(o.path, Path::Shared(_)));
        let short = Origin::entry(p, 0).child(1).child(2).child(3);
        assert!(matches!(short.path, Path::Inline { len: 4, .. }));
        assert_eq!(short.child(4).path(), &[0, 1, 2, 3, 4]);
        assert_eq!(o.clone(), o);
        assert_ne!(short, o);
        let set: std::collections::HashSet<_> = [short.clone(), short.clone(), o.clone()].into();
        assert_eq!(set.len(), 2);
    }
}

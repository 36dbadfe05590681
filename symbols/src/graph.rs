//! The link graph of a table, kept up to date one symbol at a time so a change relinks only what it
//! touches: names to ids, who refers to a name or id (resolved or still dangling, so a spec that
//! arrives links its waiting referrers), and who is linked to whom (so a change reaches the symbols
//! upstream of it, whose activity may change with it).

use std::collections::{HashMap, HashSet, VecDeque};

use uuid::Uuid;
use weir_codecs::resource::PortRef;

/// What a reference in `ports` names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RefKey {
    Name(String),
    Id(Uuid),
}

impl RefKey {
    /// The keys a reference names (an id, a name, or both).
    pub(crate) fn of(r: &PortRef) -> impl Iterator<Item = RefKey> + '_ {
        r.id.map(RefKey::Id)
            .into_iter()
            .chain(r.name.iter().map(|n| RefKey::Name(n.clone())))
    }
}

#[derive(Default)]
pub(crate) struct Graph {
    by_name: HashMap<String, Uuid>,
    /// A name or id → the symbols whose `ports` refer to it.
    referrers: HashMap<RefKey, HashSet<Uuid>>,
    /// A symbol → the symbols linked to it.
    sources: HashMap<Uuid, HashSet<Uuid>>,
}

impl Graph {
    pub(crate) fn named(&self, name: &str) -> Option<Uuid> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn add_name(&mut self, name: &str, id: Uuid) {
        self.by_name.insert(name.to_string(), id);
    }

    pub(crate) fn remove_name(&mut self, name: &str, id: Uuid) {
        if self.by_name.get(name) == Some(&id) {
            self.by_name.remove(name);
        }
    }

    /// The symbols referring to `key`.
    pub(crate) fn referrers(&self, key: &RefKey) -> impl Iterator<Item = Uuid> + '_ {
        self.referrers.get(key).into_iter().flatten().copied()
    }

    /// Replaces the keys `id` refers to.
    pub(crate) fn set_refs(&mut self, id: Uuid, old: &[RefKey], new: &[RefKey]) {
        for k in old {
            if let Some(set) = self.referrers.get_mut(k) {
                set.remove(&id);
                if set.is_empty() {
                    self.referrers.remove(k);
                }
            }
        }
        for k in new {
            self.referrers.entry(k.clone()).or_default().insert(id);
        }
    }

    /// Replaces the symbols `id` is linked to.
    pub(crate) fn set_targets(&mut self, id: Uuid, old: &[Uuid], new: &[Uuid]) {
        for t in old {
            if let Some(set) = self.sources.get_mut(t) {
                set.remove(&id);
                if set.is_empty() {
                    self.sources.remove(t);
                }
            }
        }
        for t in new {
            self.sources.entry(*t).or_default().insert(id);
        }
    }

    /// `seeds` and every symbol upstream of them (linked to them, directly or not).
    pub(crate) fn upstream(&self, seeds: impl IntoIterator<Item = Uuid>) -> HashSet<Uuid> {
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut queue: VecDeque<Uuid> = VecDeque::new();
        for s in seeds {
            if seen.insert(s) {
                queue.push_back(s);
            }
        }
        while let Some(id) = queue.pop_front() {
            for s in self.sources.get(&id).into_iter().flatten() {
                if seen.insert(*s) {
                    queue.push_back(*s);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_follows_sources_through_cycles() {
        let v: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let mut g = Graph::default();
        g.set_targets(v[0], &[], &[v[1]]);
        g.set_targets(v[1], &[], &[v[2]]);
        g.set_targets(v[2], &[], &[v[1]]);
        let up = g.upstream([v[2]]);
        assert_eq!(up, HashSet::from([v[0], v[1], v[2]]));
        g.set_targets(v[0], &[v[1]], &[v[3]]);
        assert_eq!(g.upstream([v[2]]), HashSet::from([v[1], v[2]]));
        assert_eq!(g.upstream([v[3]]), HashSet::from([v[0], v[3]]));
    }

    #[test]
    fn referrers_are_kept_by_name_and_id() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut g = Graph::default();
        let keys = vec![RefKey::Name("x".into()), RefKey::Id(b)];
        g.set_refs(a, &[], &keys);
        assert_eq!(
            g.referrers(&RefKey::Name("x".into())).collect::<Vec<_>>(),
            vec![a]
        );
        assert_eq!(g.referrers(&RefKey::Id(b)).collect::<Vec<_>>(), vec![a]);
        g.set_refs(a, &keys, &[]);
        assert_eq!(g.referrers(&RefKey::Id(b)).count(), 0);
        g.add_name("x", b);
        g.remove_name("x", a);
        assert_eq!(g.named("x"), Some(b));
        g.remove_name("x", b);
        assert_eq!(g.named("x"), None);
    }
}

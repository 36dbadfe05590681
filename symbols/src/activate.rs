//! Which symbols are active, and in what order to start and stop them. A symbol is active when it is a
//! candidate (compiled, every link resolved) and every symbol it links to is active: the greatest set
//! closed under that rule, so a cycle of candidates is active as a whole. Starting goes downstream
//! first (a listener binds its port last), stopping upstream first (it releases its port first).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

/// Within `region`, the greatest set of `candidates` whose every target is in the set or, outside
/// the region, active already (`active_outside`): the region is what a change may affect (the
/// changed symbols and everything upstream of them), so nothing outside it changes its activity.
pub(crate) fn active_set(
    candidates: &HashSet<Uuid>,
    region: &HashSet<Uuid>,
    targets: impl Fn(&Uuid) -> Vec<Uuid>,
    active_outside: impl Fn(&Uuid) -> bool,
) -> HashSet<Uuid> {
    let mut active = candidates.clone();
    loop {
        let drop: Vec<Uuid> = active
            .iter()
            .filter(|id| {
                targets(id).iter().any(|t| {
                    if region.contains(t) {
                        !active.contains(t)
                    } else {
                        !active_outside(t)
                    }
                })
            })
            .copied()
            .collect();
        if drop.is_empty() {
            return active;
        }
        for id in drop {
            active.remove(&id);
        }
    }
}

/// `ids` ordered so that a symbol comes after everything it links to (cycles in any order).
pub(crate) fn downstream_first(ids: &[Uuid], targets: &HashMap<Uuid, Vec<Uuid>>) -> Vec<Uuid> {
    let wanted: HashSet<Uuid> = ids.iter().copied().collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for &root in ids {
        if seen.contains(&root) {
            continue;
        }
        // Iterative post-order DFS.
        let mut stack = vec![(root, 0usize)];
        seen.insert(root);
        while let Some((id, i)) = stack.pop() {
            let next = targets.get(&id).and_then(|ts| ts.get(i)).copied();
            match next {
                Some(t) => {
                    stack.push((id, i + 1));
                    if !seen.contains(&t) && wanted.contains(&t) {
                        seen.insert(t);
                        stack.push((t, 0));
                    }
                }
                None => out.push(id),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::now_v7()).collect()
    }

    #[test]
    fn an_inactive_target_deactivates_its_upstream_transitively() {
        let v = ids(4);
        let targets = HashMap::from([(v[0], vec![v[1]]), (v[1], vec![v[2]]), (v[2], vec![v[3]])]);
        let candidates: HashSet<_> = [v[0], v[1], v[2]].into();
        let all: HashSet<_> = v.iter().copied().collect();
        let t = |id: &Uuid| targets.get(id).cloned().unwrap_or_default();
        assert!(active_set(&candidates, &all, t, |_| false).is_empty());
        assert_eq!(active_set(&all, &all, t, |_| false), all);
        // v[3] outside the region and active: the rest of the chain is active.
        let region: HashSet<_> = [v[0], v[1], v[2]].into();
        assert_eq!(active_set(&candidates, &region, t, |id| *id == v[3]), candidates);
    }

    #[test]
    fn a_cycle_of_candidates_is_active() {
        let v = ids(3);
        let targets = HashMap::from([(v[0], vec![v[1]]), (v[1], vec![v[2]]), (v[2], vec![v[0]])]);
        let all: HashSet<_> = v.iter().copied().collect();
        let t = |id: &Uuid| targets.get(id).cloned().unwrap_or_default();
        assert_eq!(active_set(&all, &all, t, |_| false).len(), 3);
    }

    #[test]
    fn order_puts_targets_first() {
        let v = ids(3);
        let targets = HashMap::from([(v[0], vec![v[1]]), (v[1], vec![v[2]])]);
        assert_eq!(
            downstream_first(&[v[0], v[1], v[2]], &targets),
            vec![v[2], v[1], v[0]]
        );
    }
}

//! A namespace's charts as the table sees them: each bound to the namespace's Values, and the
//! namespace's scheme built from them ([`Scheme::with_charts`]). An update says which kinds changed
//! (a chart stored, swapped, deleted, or a Value it binds changed; a chart that uses a changed chart
//! changed too), so the table recompiles exactly the specs of those kinds. A chart named like a
//! built-in kind is left out with an error naming namespace, chart and field `name`.

use std::collections::HashSet;

use indexmap::IndexMap;
use weir_codecs::chart::{bind_chart_env, BoundChart};
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{Chart, ValueResource};

#[derive(Default)]
pub(crate) struct Charts {
    /// Charts given since the last update, replacing the current ones.
    pending: Option<Vec<Chart>>,
    current: IndexMap<String, BoundChart>,
    refused: Vec<String>,
}

impl Charts {
    pub(crate) fn set(&mut self, charts: Vec<Chart>) {
        self.pending = Some(charts);
    }

    pub(crate) fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Applies pending charts (or re-binds the current ones when the Values changed): the new scheme
    /// and the kinds that changed, or `None` when nothing did.
    pub(crate) fn update(
        &mut self,
        namespace: &str,
        base: &Scheme,
        values: &[ValueResource],
        values_changed: bool,
    ) -> Option<(Scheme, HashSet<String>)> {
        let charts: Vec<Chart> = match self.pending.take() {
            Some(c) => c,
            None if values_changed
                && self
                    .current
                    .values()
                    .any(|b| b.chart.env.values().flatten().any(|r| r.is_identified())) =>
            {
                self.current.values().map(|b| b.chart.clone()).collect()
            }
            None => return None,
        };
        let mut next: IndexMap<String, BoundChart> = IndexMap::new();
        let mut refused = Vec::new();
        for chart in charts.into_iter().filter(|c| c.namespace == namespace) {
            let env = bind_chart_env(&chart, values);
            let bound = BoundChart { chart, env };
            if base.is_built_in(&bound.chart.name) {
                // Refused below by `with_charts`, with its error.
                refused.push(bound);
                continue;
            }
            next.insert(bound.chart.name.clone(), bound);
        }
        let mut changed: HashSet<String> = self
            .current
            .keys()
            .filter(|k| !next.contains_key(*k))
            .cloned()
            .collect();
        changed.extend(
            next.iter()
                .filter(|(k, b)| self.current.get(*k) != Some(*b))
                .map(|(k, _)| k.clone()),
        );
        // A chart using a changed chart changed too.
        loop {
            let more: Vec<String> = next
                .iter()
                .filter(|(k, b)| {
                    !changed.contains(*k) && b.chart.specs.iter().any(|s| changed.contains(&s.kind))
                })
                .map(|(k, _)| k.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            changed.extend(more);
        }
        let (scheme, errors) = base.with_charts(next.values().cloned().chain(refused));
        self.refused = errors.iter().map(ToString::to_string).collect();
        for e in &self.refused {
            tracing::warn!(namespace = %namespace, "{e}");
        }
        self.current = next;
        Some((scheme, changed))
    }
}

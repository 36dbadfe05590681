//! Charts' nodes: a spec whose kind is a chart of its namespace runs the chart's inner specs as one
//! node, a sub-graph ([`super::subgraph`]) wired exactly as the chart's `inbounds` and `outbounds`
//! say (no implicit chaining or error routing, unlike `block`). The chart's env has been rendered
//! into the inner specs already (see `weir_codecs::chart`), and inner specs are compiled with the
//! namespace's scheme, so a chart may use another chart.

use weir_codecs::chart::ChartCompiler;
use weir_codecs::codec::CompileContext;
use weir_codecs::resource::{Chart, FieldIssue};
use weir_engine::BoxedNode;

use super::subgraph::{Composite, Defaults, Parts, Subgraph};

/// Builds a chart's node: its inner specs as a [`Subgraph`] behind a [`Composite`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ChartNodes;

impl ChartCompiler for ChartNodes {
    fn compile(&self, chart: &Chart, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let parts = Parts {
            specs: chart.specs.clone(),
            inbounds: chart.inbounds.clone(),
            outbounds: chart.outbounds.clone(),
            defaults: Defaults::default(),
        };
        Ok(BoxedNode::new(Composite::new(Subgraph::compile(parts, cx)?)))
    }
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;

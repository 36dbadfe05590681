//! `nop`: takes every packet and answers with nothing (`None`, the empty reply), as uniflow's NOP node
//! does. It has only an `in` port; use it to end a flow whose result nobody needs, such as after a
//! `print`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, Result};

/// A `nop` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct NopFields {}

/// The `nop` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct NopKind;

impl Kind for NopKind {
    const KIND: &'static str = "nop";
    type Fields = NopFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &[])
    }

    fn doc(&self) -> &'static str {
        "Answers every packet with nothing (None)."
    }

    fn compile(&self, _: NopFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Nop))
    }
}

/// The node: it emits nothing, so each input's reply is empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nop;

impl Node for Nop {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), _cx: &mut Cx, _input: Input) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_codecs::codec::Scheme;
    use weir_engine::testing::Graph;
    use weir_engine::{NodeRuntime, Process, Value};

    #[tokio::test]
    async fn nop_answers_with_nothing() {
        let mut scheme = Scheme::new();
        crate::control::register(&mut scheme);
        let codec = scheme.get("nop").expect("nop is registered");
        assert_eq!(codec.ports(), Ports::new(&["in"], &[]));
        let node = codec
            .compile(&json!({}), &CompileContext::new("default", "n"))
            .expect("nop compiles");
        let mut g = Graph::new();
        let slot = g.slot("n");
        slot.install(NodeRuntime::from_boxed("n", node));
        let p = Process::new();
        for v in [Value::from("x"), Value::Null, Value::from(3)] {
            assert_eq!(weir_engine::call(&slot, &p, 0, v).await, Ok(vec![]));
        }
        p.exit(None);
    }
}

//! The `publish` kind: sends each packet to a channel topic of its namespace (DESIGN.md, Channels),
//! then passes the packet on out of `out`, so its reply is what it sent (with `out` unconnected) and
//! it can sit in a chain like `print`. Every subscriber of the topic at that moment gets a copy in
//! publish order, through its own bounded queue; the publisher never waits: a subscriber whose queue
//! is full is cut off and told (see `weir_engine::channel::Topic::offer` and `subscribe`). With no
//! subscriber the message goes nowhere, as in any publish/subscribe system.
//!
//! The store topics (`specs`, `values`, `charts`) are the host's: publishing to them is a field
//! error, so no node can forge store events.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::channel::Topic;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::signal::resolve_topic;
use super::SystemServices;

/// The topics the host publishes store changes to.
pub const STORE_TOPICS: [&str; 3] = ["specs", "values", "charts"];

/// The `publish` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishFields {
    /// The topic to publish to: any channel name but the store topics `specs`, `values`, `charts`.
    pub topic: String,
    /// The namespace whose topic to publish to; default the publisher's own. Only a publisher in
    /// `system` may name another namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// The codec of `publish`, holding the host's services.
#[derive(Debug, Clone)]
pub struct PublishKind {
    pub services: Arc<SystemServices>,
}

impl Kind for PublishKind {
    const KIND: &'static str = "publish";
    type Fields = PublishFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Sends each packet to a channel topic of its namespace without waiting for subscribers, then \
         passes it on out of `out`."
    }

    fn compile(&self, fields: PublishFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        if STORE_TOPICS.contains(&fields.topic.trim()) {
            return Err(FieldIssue::new(
                "topic",
                format!(
                    "{:?} is a store topic: only the host publishes store changes",
                    fields.topic.trim()
                ),
            ));
        }
        let topic = resolve_topic(
            &self.services.channels.scope(cx.namespace),
            &fields.topic,
            fields.namespace.as_deref(),
        )?;
        Ok(BoxedNode::new(Publish { topic }))
    }
}

/// A loaded publisher: the topic it holds (kept alive while the node lives).
pub struct Publish {
    topic: Arc<Topic>,
}

impl Node for Publish {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        self.topic.offer(&input.packet.value);
        cx.emit_packet(OutPort::OUT, input.packet).await
    }
}

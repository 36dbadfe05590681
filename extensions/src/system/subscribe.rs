//! The `subscribe` kind: the channels' name for `signal` (NodeTool's channels, DESIGN.md). When
//! loaded it subscribes to a topic of its namespace and emits each message out of `out` in a new
//! process, in publish order; unloading it unsubscribes. Each subscriber has its own bounded queue:
//! `publish` never waits for a slow subscriber, which is cut off when its queue is full, resubscribes,
//! and reports the lag (a warning in the log, and an error out of `error` in a process of its own).
//! The node is `signal.rs`'s; only the kind's name and docs differ.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::BoxedNode;

use super::signal::{resolve_topic, Signal};
use super::SystemServices;

/// The `subscribe` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeFields {
    /// The topic to follow: any channel name (the store topics `specs`, `values`, `charts` too).
    pub topic: String,
    /// The namespace whose topic to follow; default the subscriber's own. Only a subscriber in
    /// `system` may name another namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// The codec of `subscribe`, holding the host's services.
#[derive(Debug, Clone)]
pub struct SubscribeKind {
    pub services: Arc<SystemServices>,
}

impl Kind for SubscribeKind {
    const KIND: &'static str = "subscribe";
    type Fields = SubscribeFields;

    fn ports(&self) -> Ports {
        Ports::new(&[], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Subscribes to a channel topic of its namespace and emits each message out of `out` in a new \
         process; a subscriber that falls behind is cut off, resubscribes and reports the lag on `error`."
    }

    fn compile(&self, fields: SubscribeFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let topic = resolve_topic(
            &self.services.channels.scope(cx.namespace),
            &fields.topic,
            fields.namespace.as_deref(),
        )?;
        Ok(BoxedNode::new(Signal::new(topic, Self::KIND, cx)))
    }
}

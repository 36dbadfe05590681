//! The `subscribe` kind: the channels' name for `signal` (NodeTool's channels, DESIGN.md). When
//! loaded it subscribes to a topic of its namespace and emits each message out of `out` in a new
//! process, in publish order; unloading it unsubscribes. Each subscriber has its own bounded queue:
//! `publish` never waits for a slow subscriber, which is cut off when its queue is full, resubscribes,
//! and reports the lag (a warning in the log, and an error out of `error` in a process of its own).
//! The node is `signal.rs`'s; only the kind's name and docs differ.

use std::sync::Arc;

use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::BoxedNode;

use super::signal::{compile_follower, SignalFields};
use super::SystemServices;

/// The codec of `subscribe`, holding the host's services. Its fields are `signal`'s.
#[derive(Debug, Clone)]
pub struct SubscribeKind {
    pub services: Arc<SystemServices>,
}

impl Kind for SubscribeKind {
    const KIND: &'static str = "subscribe";
    type Fields = SignalFields;

    fn ports(&self) -> Ports {
        Ports::new(&[], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Subscribes to a channel topic of its namespace and emits each message out of `out` in a new \
         process; a subscriber that falls behind is cut off, resubscribes and reports the lag on `error`."
    }

    fn compile(&self, fields: SignalFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        compile_follower(&self.services, &fields, Self::KIND, cx)
    }
}

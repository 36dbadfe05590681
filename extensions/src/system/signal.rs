//! The `signal` kind: subscribes to a channel topic when loaded and emits each event out of `out` in
//! a new process (uniflow's `signal`). The store topics `specs`, `values` and `charts` carry
//! `{op, id, namespace, resource}` for each change; a signal sees the changes of its own namespace,
//! or of every namespace when it runs in `system`. Any other topic name is a user channel.
//!
//! Events arrive through a bounded queue; a subscriber that falls behind the store topics is cut off
//! and resubscribes, with a warning in the log (see `weir_engine::channel`).

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::channel::Topic;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeSlot, OutPort, Process, Result};

use super::SystemServices;

/// The `signal` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalFields {
    /// The topic: `specs`, `values`, `charts` (store changes) or any channel name.
    pub topic: String,
    /// The namespace whose topic to follow; default the signal's own. Only a signal in `system` may
    /// name another namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// The codec of `signal`, holding the host's services.
#[derive(Debug, Clone)]
pub struct SignalKind {
    pub services: Arc<SystemServices>,
}

impl Kind for SignalKind {
    const KIND: &'static str = "signal";
    type Fields = SignalFields;

    fn ports(&self) -> Ports {
        Ports::new(&[], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Subscribes to a channel topic (`specs`, `values`, `charts` carry store changes) and emits \
         each event out of `out` in a new process."
    }

    fn compile(&self, fields: SignalFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let name = fields.topic.trim();
        if name.is_empty() {
            return Err(FieldIssue::new("topic", "must not be empty"));
        }
        let scope = self.services.channels.scope(cx.namespace);
        let topic = match fields
            .namespace
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            None => scope.topic(name),
            Some(ns) => scope
                .topic_in(ns, name)
                .map_err(|e| FieldIssue::new("namespace", e.to_string()))?,
        };
        Ok(BoxedNode::new(Signal {
            topic,
            label: format!("{}/{}", cx.namespace, cx.name),
            running: Arc::new(Mutex::new(None)),
        }))
    }
}

/// A loaded signal: its topic, and the task that follows it while loaded.
pub struct Signal {
    topic: Arc<Topic>,
    label: String,
    running: Arc<Mutex<Option<CancellationToken>>>,
}

/// Follows the topic, one process per event, until stopped.
async fn follow(topic: Arc<Topic>, slot: Weak<NodeSlot>, stop: CancellationToken, label: String) {
    let mut sub = topic.subscribe();
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.recv() => n,
        };
        let value = match next {
            Some(Ok(v)) => v,
            Some(Err(lagged)) => {
                tracing::warn!(signal = %label, "{lagged}; resubscribing");
                sub = topic.subscribe();
                continue;
            }
            None => return,
        };
        let Some(slot) = slot.upgrade() else { return };
        let process = Process::new();
        let reply = weir_engine::call(&slot, &process, 0, value).await;
        match reply {
            Ok(_) => process.exit(None),
            Err(e) => {
                tracing::debug!(signal = %label, "event process failed: {e}");
                process.exit(Some(e));
            }
        }
    }
}

impl Node for Signal {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        cx.emit_packet(OutPort::OUT, input.packet).await
    }

    fn on_load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                format!("signal {}: loaded outside a tokio runtime", self.label),
            )
        })?;
        let mut running = self.running.lock();
        if running.is_some() {
            return Ok(());
        }
        let stop = CancellationToken::new();
        handle.spawn(follow(
            self.topic.clone(),
            Arc::downgrade(slot),
            stop.clone(),
            self.label.clone(),
        ));
        *running = Some(stop);
        Ok(())
    }

    fn on_unload(&self) {
        if let Some(stop) = self.running.lock().take() {
            stop.cancel();
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        if let Some(stop) = self.running.lock().take() {
            stop.cancel();
        }
    }
}

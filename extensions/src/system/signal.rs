//! The `signal` kind: subscribes to a channel topic when loaded and emits each event out of `out` in
//! a new process (uniflow's `signal`). The store topics `specs`, `values` and `charts` carry
//! `{op, id, namespace, resource}` for each change; a signal sees the changes of its own namespace,
//! or of every namespace when it runs in `system`. Any other topic name is a user channel (what
//! `publish` writes; `subscribe` is the same node under the channels' name, see `subscribe.rs`).
//!
//! Events arrive through a bounded queue; a subscriber that falls behind is cut off (the publisher
//! never waits for it: see `weir_engine::channel`). The node then resubscribes, logs a warning and
//! reports the lag as an error out of `error` in a process of its own: the follower writes a notice
//! into the node's in port 1, whose handler fails with the lag error.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::channel::{Scope, Subscription, Topic};
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeSlot, OutPort, Process, Result, Value};

use super::SystemServices;

/// The in port the follower writes lag notices into (events go to port 0).
const LAG_PORT: usize = 1;

/// The `signal` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalFields {
    /// The topic: `specs`, `values`, `charts` (store changes) or any channel name. Required unless
    /// `opcode` is given.
    #[serde(default)]
    pub topic: Option<String>,
    /// uniflow's way to name a store topic: `specs.watch`, `values.watch` (or uniflow's
    /// `secrets.watch`), `charts.watch`. Either this or `topic`, not both.
    #[serde(default)]
    pub opcode: Option<String>,
    /// The namespace whose topic to follow; default the spec's own. Only a spec in `system` may name
    /// another namespace.
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
        compile_follower(&self.services, &fields, Self::KIND, cx)
    }
}

/// The node of a spec that follows a topic: `signal`'s, and `subscribe`'s under that name.
pub(super) fn compile_follower(
    services: &SystemServices,
    fields: &SignalFields,
    kind: &'static str,
    cx: &CompileContext<'_>,
) -> Result<BoxedNode, FieldIssue> {
    let name = topic_name(fields)?;
    let topic = resolve_topic(
        &services.channels.scope(cx.namespace),
        &name,
        fields.namespace.as_deref(),
    )?;
    Ok(BoxedNode::new(Signal::new(topic, kind, cx)))
}

/// The topic's name from `topic`, or from uniflow's `opcode` (`specs.watch` follows `specs`).
fn topic_name(fields: &SignalFields) -> Result<String, FieldIssue> {
    match (&fields.topic, &fields.opcode) {
        (Some(topic), None) => Ok(topic.clone()),
        (None, Some(opcode)) => {
            let canonical = super::syscall::canonical_opcode(opcode);
            match canonical.strip_suffix(".watch") {
                Some(r) if super::STORE_TOPICS.contains(&r) => Ok(r.to_string()),
                _ => Err(FieldIssue::new(
                    "opcode",
                    format!(
                        "unknown opcode {opcode:?}; one of: specs.watch, values.watch (or \
                         secrets.watch), charts.watch"
                    ),
                )),
            }
        }
        (Some(_), Some(_)) => Err(FieldIssue::new(
            "opcode",
            "give either `topic` or `opcode`, not both",
        )),
        (None, None) => Err(FieldIssue::new(
            "topic",
            "required: the topic to follow (or uniflow's `opcode`, such as `specs.watch`)",
        )),
    }
}

/// The topic a spec names: `topic` of its own namespace, or of `namespace` when given (which only
/// `system` may name). Errors name the field.
pub(super) fn resolve_topic(
    scope: &Scope,
    topic: &str,
    namespace: Option<&str>,
) -> Result<Arc<Topic>, FieldIssue> {
    let name = topic.trim();
    if name.is_empty() {
        return Err(FieldIssue::new("topic", "must not be empty"));
    }
    match namespace.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(scope.topic(name)),
        Some(ns) => scope
            .topic_in(ns, name)
            .map_err(|e| FieldIssue::new("namespace", e.to_string())),
    }
}

/// A loaded signal (or subscribe): its topic, and the task that follows it while loaded.
pub struct Signal {
    topic: Arc<Topic>,
    /// `namespace "a": subscribe "name"`, for logs and the lag error.
    label: Arc<str>,
    running: Arc<Mutex<Option<CancellationToken>>>,
}

impl Signal {
    /// The node for the spec of `kind` described by `cx`, following `topic`.
    pub(super) fn new(topic: Arc<Topic>, kind: &str, cx: &CompileContext<'_>) -> Self {
        Signal {
            topic,
            label: format!("namespace {:?}: {kind} {:?}", cx.namespace, cx.name).into(),
            running: Arc::new(Mutex::new(None)),
        }
    }

    fn lag_error(&self) -> Error {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "{}: topic {:?}: the subscriber fell behind and was cut off; resubscribed, the events \
                 published meanwhile are lost",
                self.label,
                self.topic.name()
            ),
        )
    }
}

/// Writes `value` into in port `port` of the node in a process of its own and waits for its reply.
async fn deliver(slot: &Arc<NodeSlot>, port: usize, value: Value, label: &str) {
    let process = Process::new();
    match weir_engine::call(slot, &process, port, value).await {
        Ok(_) => process.exit(None),
        Err(e) => {
            tracing::debug!(node = %label, "event process failed: {e}");
            process.exit(Some(e));
        }
    }
}

/// Follows the topic through `sub`, one process per event, until stopped.
async fn follow(mut sub: Subscription, slot: Weak<NodeSlot>, stop: CancellationToken, label: Arc<str>) {
    let topic = sub.topic().clone();
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.recv() => n,
        };
        let Some(next) = next else { return };
        let Some(slot) = slot.upgrade() else { return };
        match next {
            Ok(value) => deliver(&slot, 0, value, &label).await,
            Err(lagged) => {
                tracing::warn!(node = %label, topic = topic.name(), "{lagged}; resubscribing");
                sub = topic.subscribe();
                deliver(&slot, LAG_PORT, Value::Null, &label).await;
            }
        }
    }
}

impl Node for Signal {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        if input.port == LAG_PORT {
            return Err(self.lag_error());
        }
        cx.emit_packet(OutPort::OUT, input.packet).await
    }

    fn on_load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                format!("{}: loaded outside a tokio runtime", self.label),
            )
        })?;
        let mut running = self.running.lock();
        if running.is_some() {
            return Ok(());
        }
        // Subscribed before `on_load` returns, so nothing published after loading is missed.
        let stop = CancellationToken::new();
        handle.spawn(follow(
            self.topic.subscribe(),
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

//! Many-to-one input sync. A node with several in ports fires with one value per port:
//! - `zip_all` fires once for each origin present on every port. A port whose stream ended after exactly
//!   one packet is sticky: its value is reused for every firing. Packets still unpaired when all input
//!   has ended are reported as a warning on the process, never dropped silently.
//! - `on_any` fires on every arrival, with the latest value of each other port; a port that has not yet
//!   received anything is absent (`None`).
//!
//! The reply of a firing goes to the input that triggered it; inputs that were only buffered get an
//! empty reply.

use std::future::Future;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::error::Result;
use crate::node::{Input, Node, OutPort};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::session::Cx;
use crate::value::Value;

/// How a many-to-one node pairs its inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    ZipAll,
    OnAny,
}

/// Several values in (one per in port, `None` when absent), one value out.
pub trait ManyToOne: Send + Sync + 'static {
    fn call(
        &self,
        process: &Arc<Process>,
        inputs: Vec<Option<Value>>,
    ) -> impl Future<Output = Result<Value>> + Send;
}

/// Wraps a [`ManyToOne`] as a node with `ports` in ports.
pub struct ManyToOneNode<T> {
    inner: T,
    ports: usize,
    mode: SyncMode,
}

impl<T> ManyToOneNode<T> {
    pub fn new(inner: T, ports: usize, mode: SyncMode) -> Self {
        ManyToOneNode {
            inner,
            ports: ports.max(1),
            mode,
        }
    }
}

#[derive(Default)]
pub struct SyncState {
    /// zip_all: packets waiting for their partners, per port, by origin.
    pending: Vec<IndexMap<Origin, Vec<Packet>>>,
    /// Packets received per port, and whether the port has ended.
    counts: Vec<usize>,
    ended: Vec<bool>,
    /// The latest packet per port (on_any; and the sticky value for zip_all).
    latest: Vec<Option<Packet>>,
}

impl SyncState {
    fn ensure(&mut self, ports: usize) {
        if self.counts.len() < ports {
            self.pending.resize_with(ports, IndexMap::new);
            self.counts.resize(ports, 0);
            self.ended.resize(ports, false);
            self.latest.resize(ports, None);
        }
    }

    fn sticky(&self, port: usize) -> Option<&Packet> {
        if self.ended[port] && self.counts[port] == 1 {
            self.latest[port].as_ref()
        } else {
            None
        }
    }

    /// Takes one packet of `origin` from every port (or its sticky value); `None` if one is missing.
    fn take_zip(&mut self, origin: &Origin) -> Option<Vec<Option<Value>>> {
        let ports = self.counts.len();
        let mut any = false;
        for p in 0..ports {
            let here = self.pending[p].get(origin).is_some_and(|v| !v.is_empty());
            if !here && self.sticky(p).is_none() {
                return None;
            }
            any |= here;
        }
        if !any {
            return None;
        }
        let mut values = Vec::with_capacity(ports);
        for p in 0..ports {
            let taken = match self.pending[p].get_mut(origin) {
                Some(list) if !list.is_empty() => {
                    let v = list.remove(0).value;
                    if list.is_empty() {
                        self.pending[p].shift_remove(origin);
                    }
                    Some(v)
                }
                _ => self.sticky(p).map(|s| s.value.clone()),
            };
            values.push(taken);
        }
        Some(values)
    }
}

impl<T: ManyToOne> ManyToOneNode<T> {
    async fn fire(&self, cx: &mut Cx, values: Vec<Option<Value>>) -> Result<()> {
        let out = self.inner.call(cx.process(), values).await?;
        cx.emit(OutPort::OUT, out).await
    }

    /// zip_all: fire for every origin complete now (after a port became sticky).
    async fn fire_complete(&self, state: &mut SyncState, cx: &mut Cx) -> Result<()> {
        let mut origins: Vec<Origin> = Vec::new();
        for map in &state.pending {
            for o in map.keys() {
                if !origins.contains(o) {
                    origins.push(o.clone());
                }
            }
        }
        for o in origins {
            while let Some(values) = state.take_zip(&o) {
                self.fire(cx, values).await?;
            }
        }
        Ok(())
    }
}

impl<T: ManyToOne> Node for ManyToOneNode<T> {
    type State = SyncState;

    async fn on_packet(&self, state: &mut SyncState, cx: &mut Cx, input: Input) -> Result<()> {
        state.ensure(self.ports);
        let port = input.port.min(self.ports - 1);
        state.counts[port] += 1;
        state.latest[port] = Some(input.packet.clone());
        match self.mode {
            SyncMode::OnAny => {
                let values = state
                    .latest
                    .iter()
                    .map(|p| p.as_ref().map(|p| p.value.clone()))
                    .collect();
                self.fire(cx, values).await
            }
            SyncMode::ZipAll => {
                let origin = input.packet.origin.clone();
                state.pending[port]
                    .entry(origin.clone())
                    .or_default()
                    .push(input.packet);
                match state.take_zip(&origin) {
                    Some(values) => self.fire(cx, values).await,
                    None => Ok(()),
                }
            }
        }
    }

    async fn on_eos(&self, state: &mut SyncState, cx: &mut Cx, port: usize) -> Result<()> {
        state.ensure(self.ports);
        if port >= self.ports {
            return Ok(());
        }
        state.ended[port] = true;
        if self.mode == SyncMode::ZipAll && state.counts[port] == 1 {
            // The port became sticky: its one value pairs with everything still waiting.
            state.pending[port].clear();
            self.fire_complete(state, cx).await?;
        }
        Ok(())
    }

    async fn on_finish(&self, state: &mut SyncState, cx: &mut Cx) -> Result<()> {
        if self.mode != SyncMode::ZipAll {
            return Ok(());
        }
        for (port, map) in state.pending.iter().enumerate() {
            if state.sticky(port).is_some() {
                continue;
            }
            let n: usize = map.values().map(Vec::len).sum();
            if n > 0 {
                let origins: Vec<String> = map.keys().map(|o| o.to_string()).collect();
                cx.warn(format!(
                    "{n} unpaired packet(s) on in[{port}] at end of input (origins {})",
                    origins.join(", ")
                ));
            }
        }
        Ok(())
    }
}

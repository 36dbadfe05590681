//! Requests: a node sends a packet to some targets and reads their reply itself, instead of letting
//! its session compose that reply into the input's reply. `pipe`, `for`, `try`, `retry` and `fork`
//! read what comes back from `out` before deciding what to do; `block` and `step` read what comes
//! back from their inner nodes.
//!
//! Lanes are opened on first use and kept per process (the node's per-process state owns a
//! [`Requests`]), so a process that sends many packets opens each lane once. A packet sent to several
//! targets is answered element by element, as the engine joins fan-out: element i is the i-th element
//! of each target's reply that has one (one → it, several → a list in link order), any error → that
//! error. A packet sent nowhere (the port is unconnected) is answered by the packet's own value.

use std::sync::Arc;

use weir_engine::lane::LaneWriter;
use weir_engine::slot::Target;
use weir_engine::{Frame, Packet, Process, Result, Value};

/// Open lanes of one process, by a key the caller chooses (a port) and the target's index.
#[derive(Default)]
pub struct Requests {
    lanes: Vec<((usize, usize), LaneWriter)>,
}

/// The reply owed to one sent packet, read with [`Requests::next`].
pub struct Pending {
    /// Indices into [`Requests::lanes`] whose reply has not ended.
    open: Vec<usize>,
    /// The answer of a packet sent nowhere: its own value.
    local: Option<Value>,
}

impl Pending {
    /// A reply of exactly `value`, for a packet that was not sent anywhere.
    pub fn local(value: Value) -> Self {
        Pending {
            open: Vec::new(),
            local: Some(value),
        }
    }
}

impl Requests {
    /// Sends `packet` in `process` to every target, lanes keyed by `key`. With no targets the reply
    /// is the packet's own value.
    pub async fn send(
        &mut self,
        process: &Arc<Process>,
        key: usize,
        targets: &[Target],
        packet: Packet,
    ) -> Result<Pending> {
        if targets.is_empty() {
            return Ok(Pending::local(packet.value));
        }
        let mut open = Vec::with_capacity(targets.len());
        for (ti, target) in targets.iter().enumerate() {
            let li = self.lane(process, (key, ti), target)?;
            let sent = tokio::select! {
                biased;
                _ = process.done() => Err(process.ended_error()),
                r = self.lanes[li].1.send(packet.clone()) => r,
            };
            if let Err(e) = sent {
                // What was sent already is answered; read it away so the lanes stay in step.
                let mut p = Pending { open, local: None };
                self.drain(&mut p).await;
                return Err(e);
            }
            open.push(li);
        }
        Ok(Pending { open, local: None })
    }

    fn lane(&mut self, process: &Arc<Process>, key: (usize, usize), target: &Target) -> Result<usize> {
        if let Some(i) = self.lanes.iter().position(|(k, _)| *k == key) {
            return Ok(i);
        }
        let writer = target.slot.open(process, target.port)?;
        self.lanes.push((key, writer));
        Ok(self.lanes.len() - 1)
    }

    /// The next element of the reply: `None` once it has ended. After an error nothing more comes
    /// (the rest of every target's reply is read away).
    pub async fn next(&mut self, p: &mut Pending) -> Option<Result<Value>> {
        if let Some(v) = p.local.take() {
            return Some(Ok(v));
        }
        loop {
            if p.open.is_empty() {
                return None;
            }
            let mut values = Vec::with_capacity(p.open.len());
            let mut still = Vec::with_capacity(p.open.len());
            let mut failure = None;
            for &li in &p.open {
                match self.lanes[li].1.frame().await {
                    Some(Frame::Item(v)) => {
                        values.push(v);
                        still.push(li);
                    }
                    Some(Frame::One(v)) => values.push(v),
                    Some(Frame::End) | None => {}
                    Some(Frame::Err(e)) => {
                        failure.get_or_insert(e);
                    }
                }
            }
            p.open = still;
            if let Some(e) = failure {
                self.drain(p).await;
                return Some(Err(e));
            }
            match values.len() {
                0 => continue,
                1 => return values.pop().map(Ok),
                _ => return Some(Ok(Value::list(values))),
            }
        }
    }

    /// The whole reply, element by element.
    pub async fn collect(&mut self, mut p: Pending) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        while let Some(v) = self.next(&mut p).await {
            out.push(v?);
        }
        Ok(out)
    }

    /// Reads away what is left of a reply.
    pub async fn drain(&mut self, p: &mut Pending) {
        p.local = None;
        for li in std::mem::take(&mut p.open) {
            while let Some(f) = self.lanes[li].1.frame().await {
                if f.is_last() {
                    break;
                }
            }
        }
    }

    /// Ends every lane's input stream (the targets see end-of-stream).
    pub fn close(&mut self) {
        for (_, w) in &mut self.lanes {
            w.close();
        }
    }
}

/// A reply read whole, as one value: none → `Null`, one → it, several → a list.
pub fn joined(values: Vec<Value>) -> Value {
    match values.len() {
        0 => Value::Null,
        1 => values.into_iter().next().unwrap_or(Value::Null),
        _ => Value::list(values),
    }
}

//! Entry into a graph: write values into a node's in port within a process and read the replies, as a
//! listener or a job does.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::lane::{Frame, LaneWriter};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::slot::NodeSlot;
use crate::value::Value;

/// The values of one reply, in order (`None` is no values, a scalar is one).
pub type Reply = Result<Vec<Value>>;

/// A stream of inputs into one in port of one node, within one process.
pub struct Call {
    writer: LaneWriter,
    process: Arc<Process>,
    next: u32,
}

impl Call {
    pub fn open(slot: &Arc<NodeSlot>, process: &Arc<Process>, port: usize) -> Result<Self> {
        Ok(Call {
            writer: slot.open(process, port)?,
            process: process.clone(),
            next: 0,
        })
    }

    /// The same with an explicit credit.
    pub fn open_with(slot: &Arc<NodeSlot>, process: &Arc<Process>, port: usize, cap: usize) -> Result<Self> {
        Ok(Call {
            writer: slot.open_with(process, port, Some(cap))?,
            process: process.clone(),
            next: 0,
        })
    }

    /// Sends the next entry item, waiting for credit.
    pub async fn send(&mut self, value: Value) -> Result<()> {
        let origin = Origin::entry(self.process.id(), self.next);
        self.next += 1;
        if self.process.is_done() {
            return Err(self.process.ended_error());
        }
        // With credit free the packet goes at once: no wait to set up.
        let packet = match self.writer.try_push(Packet::new(value, origin))? {
            Ok(()) => return Ok(()),
            Err(packet) => packet,
        };
        tokio::select! {
            biased;
            _ = self.process.done() => Err(self.process.ended_error()),
            r = self.writer.send(packet) => r,
        }
    }

    /// Ends the input stream.
    pub fn close(&mut self) {
        self.writer.close();
    }

    /// The next reply frame; `None` when no reply is owed.
    pub async fn frame(&mut self) -> Option<Frame> {
        self.writer.frame().await
    }

    /// The next reply frame if one is there now.
    pub fn try_frame(&mut self) -> Option<Frame> {
        self.writer.try_frame()
    }

    /// The next whole reply; `None` when no reply is owed.
    pub async fn reply(&mut self) -> Option<Reply> {
        let mut values = Vec::new();
        loop {
            match self.writer.frame().await? {
                Frame::Item(v) => values.push(v),
                Frame::One(v) => {
                    values.push(v);
                    return Some(Ok(values));
                }
                Frame::End => return Some(Ok(values)),
                Frame::Err(e) => return Some(Err(e)),
            }
        }
    }

    /// True while a reply frame is still to be read (see [`LaneWriter::owes_frames`]).
    pub fn owes_frames(&self) -> bool {
        self.writer.owes_frames()
    }

    /// Packets sent whose reply has not ended.
    pub fn unanswered(&self) -> usize {
        self.writer.unanswered()
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }
}

/// Sends one value into `slot`'s in port `port` in `process` and returns the whole reply.
pub async fn call(slot: &Arc<NodeSlot>, process: &Arc<Process>, port: usize, value: Value) -> Reply {
    let mut c = Call::open(slot, process, port)?;
    c.send(value).await?;
    c.close();
    c.reply()
        .await
        .unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "no reply came back")))
}

//! A job's event log: events numbered from 1 in the order they happened, the newest `capacity` kept
//! (older ones dropped first). Readers are cursors: a cursor asks for the events after a sequence
//! number, gets what is kept, then waits for more; one that asks for events already dropped is told
//! so once ([`Item::ReplayIncomplete`]) and goes on from the oldest kept. The log is the only queue,
//! so a slow reader never holds up the job: it falls behind and learns what it missed.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// One event as clients read it (a JSON object with `type` and `seq`).
pub type EventJson = Arc<serde_json::Value>;

/// What a cursor yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Event(u64, EventJson),
    /// Events after `asked` up to `first_kept - 1` were dropped before this reader came for them.
    ReplayIncomplete {
        asked: u64,
        first_kept: u64,
    },
}

#[derive(Default)]
struct State {
    events: VecDeque<(u64, EventJson)>,
    next_seq: u64,
    closed: bool,
}

/// The log of one job.
pub struct EventLog {
    capacity: usize,
    state: Mutex<State>,
    changed: Notify,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("EventLog")
            .field("kept", &s.events.len())
            .field("next_seq", &s.next_seq)
            .field("closed", &s.closed)
            .finish()
    }
}

impl EventLog {
    pub fn new(capacity: usize) -> Self {
        EventLog {
            capacity: capacity.max(1),
            state: Mutex::new(State {
                next_seq: 1,
                ..State::default()
            }),
            changed: Notify::new(),
        }
    }

    /// Appends an event; `make` gets its sequence number. Returns it, or `None` once closed.
    pub fn push(&self, make: impl FnOnce(u64) -> serde_json::Value) -> Option<u64> {
        self.append(make, false)
    }

    /// Appends the last event and closes the log, in one lock: cursors end after it, and nothing
    /// pushed at the same moment can come after it.
    pub fn close_with(&self, make: impl FnOnce(u64) -> serde_json::Value) -> Option<u64> {
        self.append(make, true)
    }

    fn append(&self, make: impl FnOnce(u64) -> serde_json::Value, close: bool) -> Option<u64> {
        let mut s = self.state.lock();
        if s.closed {
            return None;
        }
        let seq = s.next_seq;
        s.next_seq += 1;
        s.events.push_back((seq, Arc::new(make(seq))));
        while s.events.len() > self.capacity {
            s.events.pop_front();
        }
        s.closed = close;
        drop(s);
        self.changed.notify_waiters();
        Some(seq)
    }

    /// The number of the last event written (0 when none).
    pub fn last_seq(&self) -> u64 {
        self.state.lock().next_seq - 1
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// The events kept now with a number above `after`.
    pub fn snapshot(&self, after: u64) -> Vec<(u64, EventJson)> {
        let s = self.state.lock();
        s.events.iter().filter(|(q, _)| *q > after).cloned().collect()
    }

    /// A reader of the events after `after` (0 for all).
    pub fn cursor(self: &Arc<Self>, after: u64) -> Cursor {
        Cursor {
            log: self.clone(),
            after,
        }
    }
}

/// Reads a log from a position on.
#[derive(Debug)]
pub struct Cursor {
    log: Arc<EventLog>,
    after: u64,
}

impl Cursor {
    /// The next item; `None` after the log's last event.
    pub async fn next(&mut self) -> Option<Item> {
        let log = self.log.clone();
        loop {
            let notified = log.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(item) = self.try_next() {
                return Some(item);
            }
            if log.is_closed() {
                // Closed after the look above: its last events are there now.
                return self.try_next();
            }
            notified.await;
        }
    }

    /// The next item if there is one now.
    pub fn try_next(&mut self) -> Option<Item> {
        let s = self.log.state.lock();
        let first = s.events.front()?.0;
        if self.after + 1 < first {
            let asked = self.after;
            self.after = first - 1;
            return Some(Item::ReplayIncomplete {
                asked,
                first_kept: first,
            });
        }
        let index = usize::try_from(self.after + 1 - first).ok()?;
        let (seq, event) = s.events.get(index)?.clone();
        self.after = seq;
        Some(Item::Event(seq, event))
    }

    /// The number of the last event read.
    pub fn position(&self) -> u64 {
        self.after
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn ev(seq: u64) -> serde_json::Value {
        json!({"type": "log_update", "seq": seq})
    }

    #[tokio::test]
    async fn a_cursor_reads_every_event_in_order_then_ends_with_the_log() {
        let log = Arc::new(EventLog::new(16));
        let mut c = log.cursor(0);
        log.push(ev);
        log.push(ev);
        assert!(matches!(c.next().await, Some(Item::Event(1, _))));
        assert!(matches!(c.next().await, Some(Item::Event(2, _))));
        let waiting = tokio::spawn(async move {
            let got = c.next().await;
            (got, c.next().await)
        });
        log.close_with(ev);
        let (third, end) = waiting.await.unwrap();
        assert_eq!(third, Some(Item::Event(3, Arc::new(ev(3)))));
        assert_eq!(end, None);
        assert_eq!(log.push(ev), None, "nothing after the last event");
    }

    #[tokio::test]
    async fn a_reconnect_after_a_position_gets_exactly_what_followed() {
        let log = Arc::new(EventLog::new(16));
        for _ in 0..5 {
            log.push(ev);
        }
        log.close_with(ev);
        let mut c = log.cursor(3);
        let mut seqs = Vec::new();
        while let Some(Item::Event(q, _)) = c.next().await {
            seqs.push(q);
        }
        assert_eq!(seqs, vec![4, 5, 6]);
    }

    #[tokio::test]
    async fn asking_for_dropped_events_is_told_once() {
        let log = Arc::new(EventLog::new(3));
        for _ in 0..6 {
            log.push(ev);
        }
        log.close_with(ev);
        let mut c = log.cursor(1);
        assert_eq!(
            c.next().await,
            Some(Item::ReplayIncomplete {
                asked: 1,
                first_kept: 5
            })
        );
        let mut seqs = Vec::new();
        while let Some(Item::Event(q, _)) = c.next().await {
            seqs.push(q);
        }
        assert_eq!(seqs, vec![5, 6, 7]);
    }
}

//! An incremental parser of `text/event-stream` (the WHATWG rules the `http` client needs): bytes in
//! as they arrive, whole events out. `data:` lines are joined with `\n`, one leading space after the
//! colon is dropped, lines starting with `:` are comments, and an event is dispatched at a blank line
//! when it has data. Lines end with `\n`, `\r\n` or `\r`.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; `message` when absent.
    pub kind: String,
    pub data: String,
}

/// Feeds bytes, yields events.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buf: Vec<u8>,
    kind: String,
    data: Option<String>,
    /// The last byte was `\r`: a following `\n` belongs to the same line end.
    after_cr: bool,
}

impl Parser {
    /// Adds `chunk` and returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.buf);
                    if let Some(e) = self.line(&String::from_utf8_lossy(&line)) {
                        events.push(e);
                    }
                }
                b => self.buf.push(b),
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let kind = std::mem::take(&mut self.kind);
            return self.data.take().map(|data| Event {
                kind: if kind.is_empty() { "message".into() } else { kind },
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.kind = value.to_string(),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_sse_events_across_chunks() {
        let mut p = Parser::default();
        assert!(p.feed(b"data: a").is_empty());
        let e = p.feed(b"\n\n: comment\ndata:b\r\ndata: c\r\n\r\nevent: error\ndata: boom\n");
        assert_eq!(
            e,
            vec![
                Event {
                    kind: "message".into(),
                    data: "a".into()
                },
                Event {
                    kind: "message".into(),
                    data: "b\nc".into()
                }
            ]
        );
        let e = p.feed(b"\nevent: x\n\n");
        assert_eq!(
            e,
            vec![Event {
                kind: "error".into(),
                data: "boom".into()
            }]
        );
    }
}

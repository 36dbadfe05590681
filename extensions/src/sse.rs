//! An incremental parser of `text/event-stream` bodies (the WHATWG rules): bytes go in as they arrive
//! from the network, in pieces cut anywhere, and whole events come out. Lines end with `\n`, `\r\n`
//! or `\r`; a line starting with `:` is a comment (servers send them to keep a connection alive);
//! `data:` lines accumulate (joined by `\n`) until a blank line dispatches the event; an event with no
//! data is dropped. One event may hold at most [`MAX_EVENT`] bytes, so a server cannot make the
//! client hold an unbounded buffer.

/// The most bytes one event (or one line) may hold.
pub const MAX_EVENT: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, when one was given.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// The event stream went over [`MAX_EVENT`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event is larger than {MAX_EVENT} bytes")]
pub struct TooLarge;

/// The parser's state between pieces of the body.
#[derive(Debug, Default)]
pub struct Parser {
    /// The current line, not yet ended.
    line: Vec<u8>,
    /// The previous piece ended with `\r`: a `\n` first in the next piece belongs to it.
    after_cr: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the body; events it completes are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<(), TooLarge> {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..end]);
            self.check()?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, out)?;
            self.line = line;
            self.line.clear();
            let cr = bytes[end] == b'\r';
            bytes = &bytes[end + 1..];
            if cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
        self.check()
    }

    fn check(&self) -> Result<(), TooLarge> {
        if self.line.len() + self.data.len() > MAX_EVENT {
            Err(TooLarge)
        } else {
            Ok(())
        }
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), TooLarge> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                self.check()?;
            }
            "event" => self.event = Some(value.to_string()),
            // `id` and `retry` matter to a reconnecting browser, not to one completion.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(Event {
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pieces: &[&[u8]]) -> Vec<Event> {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for piece in pieces {
            p.push(piece, &mut out).unwrap_or_else(|e| panic!("{e}"));
        }
        out
    }

    fn data(d: &str) -> Event {
        Event {
            event: None,
            data: d.to_string(),
        }
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let body = b"data: {\"a\":1}\n\n: keep-alive\n\nevent: error\ndata: one\ndata: two\n\ndata:x\n\n";
        let whole = parse(&[body]);
        assert_eq!(
            whole,
            vec![
                data("{\"a\":1}"),
                Event {
                    event: Some("error".into()),
                    data: "one\ntwo".into()
                },
                data("x"),
            ]
        );
        for cut in 0..body.len() {
            assert_eq!(parse(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse(&bytes), whole);
    }

    #[test]
    fn crlf_and_cr_end_lines_even_across_pieces() {
        assert_eq!(
            parse(&[b"data: a\r\n\r\ndata: b\r\r"]),
            vec![data("a"), data("b")]
        );
        assert_eq!(parse(&[b"data: a\r", b"\n\r", b"\n"]), vec![data("a")]);
    }

    #[test]
    fn an_unfinished_event_and_events_without_data_are_not_dispatched() {
        assert_eq!(parse(&[b"event: ping\n\ndata: half"]), vec![]);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut p = Parser::new();
        let big = vec![b'a'; MAX_EVENT + 1];
        assert_eq!(p.push(&big, &mut Vec::new()), Err(TooLarge));
    }
}

//! A minimal HTTP/1.1 client for tests: one request per connection, the response's status, headers
//! and body (chunked bodies decoded), a streaming reader for bodies that arrive piece by piece, and an
//! event reader for `text/event-stream` bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request; `headers` are extra header lines.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut r = open(addr, method, path, headers, body)?;
    let mut body = String::new();
    while let Some(chunk) = r.next_chunk()? {
        body.push_str(&chunk);
    }
    Ok(Response {
        status: r.status,
        headers: r.headers,
        body,
    })
}

pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    request(addr, "GET", path, &[], "")
}

/// A response whose body is read as it arrives.
pub struct Streaming {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    chunked: bool,
    remaining: Option<usize>,
    done: bool,
}

impl Streaming {
    /// The next piece of the body (a chunk, or what is there for other bodies), `None` at the end.
    pub fn next_chunk(&mut self) -> std::io::Result<Option<String>> {
        if self.done {
            return Ok(None);
        }
        if self.chunked {
            let mut size = String::new();
            self.reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            let mut buf = vec![0; n + 2];
            self.reader.read_exact(&mut buf)?;
            buf.truncate(n);
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        let mut buf = vec![0; self.remaining.unwrap_or(8192).min(8192)];
        if buf.is_empty() {
            self.done = true;
            return Ok(None);
        }
        let n = self.reader.read(&mut buf)?;
        if n == 0 {
            self.done = true;
            return Ok(None);
        }
        if let Some(r) = self.remaining.as_mut() {
            *r -= n;
            if *r == 0 {
                self.done = true;
            }
        }
        Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()))
    }
}

/// Sends a request and reads the head; the body is read with `next_chunk`.
pub fn open(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Streaming> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" || method == "PATCH" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v): &(String, String)| v.clone())
    };
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let remaining = find("content-length").and_then(|v| v.parse().ok());
    let done = method == "HEAD" || status == 204 || status == 304 || remaining == Some(0);
    Ok(Streaming {
        status,
        headers,
        reader,
        chunked,
        remaining,
        done,
    })
}

/// One server-sent event: its `event:` field and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
}

/// Reads a `text/event-stream` body event by event, as the events arrive.
pub struct Events {
    body: Streaming,
    buf: String,
}

impl Events {
    pub fn new(body: Streaming) -> Self {
        Events {
            body,
            buf: String::new(),
        }
    }

    /// The next event with data; `None` when the body ends. Comments and `id:`/`retry:` are skipped.
    pub fn next_event(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            let normalized = self.buf.replace("\r\n", "\n");
            if let Some(end) = normalized.find("\n\n") {
                let block = normalized[..end].to_string();
                self.buf = normalized[end + 2..].to_string();
                let mut event = None;
                let mut data: Option<String> = None;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "event" => event = Some(value.to_string()),
                        "data" => match data.as_mut() {
                            Some(d) => {
                                d.push('\n');
                                d.push_str(value);
                            }
                            None => data = Some(value.to_string()),
                        },
                        _ => {}
                    }
                }
                if let Some(data) = data {
                    return Ok(Some(Event { event, data }));
                }
                continue;
            }
            match self.body.next_chunk()? {
                Some(chunk) => self.buf.push_str(&chunk),
                None => return Ok(None),
            }
        }
    }
}

//! The `http` kind: an HTTP client (uniflow's `http` node). The payload is a request in uniflow's
//! shape (or, when it is not, the body of one); the node's `url` supplies the scheme and host and is
//! joined in front of the payload's path (`outgoing.rs`). The response goes out of `out`:
//! - whole, as `{status, header, body}`, when it has a length, is JSON or a form, is an error status
//!   (400 and up) or has no body;
//! - as a stream of its events when it is `text/event-stream` (each event's data: a string, or the
//!   value when it is a JSON object or array; an `error` event fails the request);
//! - otherwise (a body without a length: chunked, or until the connection closes) as a stream of its
//!   chunks as they arrive: strings for `text/*`, bytes for anything else.
//!
//! Connections go through `connect.rs`, so nodes outside `system` cannot reach the system listener.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::time::Instant;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::coerce::to_duration;
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, OutPort, Result, Value};

use super::connect::Connector;
use super::http::{decode_body, header_value, is_json, media_type, FORM};
use super::outgoing::{Base, Outgoing};
use super::tls;
use crate::sse;

/// The `http` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct HttpFields {
    /// The target URL. Its scheme and host replace the payload's, its path is joined in front of the
    /// payload's path (Go's `url.JoinPath`), its query is added to the payload's.
    #[serde(default)]
    pub url: Option<String>,
    /// How long the whole exchange may take, body included (`"5s"`, or milliseconds); none when absent.
    #[serde(default)]
    #[schemars(schema_with = "super::listener::duration_schema")]
    pub timeout: Option<serde_json::Value>,
}

/// The pooled client every client kind of a namespace-bound node uses.
pub(crate) type HttpPool = Client<Connector, Full<Bytes>>;

/// A pooled client that connects on behalf of `namespace`, trusting the web PKI roots.
pub(crate) fn pool(namespace: &str) -> std::result::Result<HttpPool, String> {
    Ok(pool_with(namespace, tls::client_config()?))
}

/// A pooled client that connects on behalf of `namespace` with the TLS settings `tls`.
pub(crate) fn pool_with(namespace: &str, tls: Arc<rustls::ClientConfig>) -> HttpPool {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(Connector::new(namespace, tls))
}

/// Reads an optional duration field.
pub(crate) fn duration_field(
    v: &Option<serde_json::Value>,
    field: &str,
) -> std::result::Result<Option<Duration>, FieldIssue> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => to_duration(v, field)
            .map(|d| Some(d).filter(|d| !d.is_zero()))
            .map_err(FieldIssue::from),
    }
}

/// Reads the `url` field.
pub(crate) fn base_field(url: &str, field: &str) -> std::result::Result<Base, FieldIssue> {
    let base = Base::parse(url).map_err(|m| FieldIssue::new(field, m))?;
    if !matches!(base.scheme.as_str(), "" | "http" | "https") {
        return Err(FieldIssue::new(
            field,
            format!("unsupported scheme {:?}; use http or https", base.scheme),
        ));
    }
    Ok(base)
}

/// The codec of `http`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpKind;

impl Kind for HttpKind {
    const KIND: &'static str = "http";
    type Fields = HttpFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "An HTTP client: sends the payload as a request to `url` and emits the response, streamed \
         chunk by chunk or event by event when the server streams."
    }

    fn compile(&self, f: HttpFields, cx: &CompileContext<'_>) -> std::result::Result<BoxedNode, FieldIssue> {
        let base = base_field(f.url.as_deref().unwrap_or(""), "url")?;
        let timeout = duration_field(&f.timeout, "timeout")?;
        let client = pool(cx.namespace).map_err(|m| FieldIssue::new("url", m))?;
        Ok(BoxedNode::new(HttpClient {
            label: format!("http {}/{}", cx.namespace, cx.name),
            base,
            timeout,
            client,
        }))
    }
}

/// The running `http` node.
pub struct HttpClient {
    label: String,
    base: Base,
    timeout: Option<Duration>,
    client: HttpPool,
}

/// An error's message with its sources (hyper's errors say little at the top).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Runs `fut` until `deadline`; `None` when it passed.
pub(crate) async fn within<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// How a response body is read.
#[derive(Debug, PartialEq)]
enum Mode {
    Whole,
    Events,
    Chunks { text: bool },
}

fn mode(method: &Method, res: &Response<Incoming>) -> Mode {
    let status = res.status();
    let headers = res.headers();
    let media = headers
        .get(CONTENT_TYPE)
        .map(|v| media_type(&String::from_utf8_lossy(v.as_bytes())))
        .unwrap_or_default();
    let no_body = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body || status.as_u16() >= 400 {
        return Mode::Whole;
    }
    if media == "text/event-stream" {
        return Mode::Events;
    }
    if headers.contains_key(CONTENT_LENGTH) || is_json(&media) || media == FORM {
        return Mode::Whole;
    }
    Mode::Chunks {
        text: media.starts_with("text/"),
    }
}

/// An SSE event's data as a value: a JSON object or array is decoded, anything else is a string.
fn event_value(data: String) -> Value {
    let t = data.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) {
            return Value::from(&v);
        }
    }
    Value::from(data)
}

/// Splits `bytes` (after what was carried) into the longest valid UTF-8 text and the incomplete tail.
fn utf8_chunk(carry: &mut Vec<u8>, bytes: &[u8]) -> String {
    carry.extend_from_slice(bytes);
    let keep = match std::str::from_utf8(carry) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() => carry.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let tail = carry.split_off(carry.len() - keep);
    let text = String::from_utf8_lossy(carry).into_owned();
    *carry = tail;
    text
}

/// What a response is read for: the node's label, the request (`GET url`) and the timeout, for
/// messages.
pub(crate) struct Exchange<'a> {
    pub label: &'a str,
    pub what: &'a str,
    pub timeout: Option<Duration>,
}

impl Exchange<'_> {
    pub(crate) fn fail(&self, kind: ErrorKind, msg: impl std::fmt::Display) -> Error {
        Error::new(kind, format!("{}: {}: {msg}", self.label, self.what))
    }

    fn timed_out(&self) -> Error {
        self.fail(
            ErrorKind::Timeout,
            format!("timed out after {:?}", self.timeout.unwrap_or_default()),
        )
    }

    /// Sends `req` through `client` until `deadline`.
    pub(crate) async fn send(
        &self,
        client: &HttpPool,
        req: http::Request<Full<Bytes>>,
        deadline: Option<Instant>,
    ) -> Result<Response<Incoming>> {
        within(deadline, client.request(req))
            .await
            .ok_or_else(|| self.timed_out())?
            .map_err(|e| {
                let kind = if e.is_connect() {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Node
                };
                self.fail(kind, chain(&e))
            })
    }

    /// Emits the response by its mode (see the module docs).
    pub(crate) async fn respond(
        &self,
        cx: &mut Cx,
        method: &Method,
        res: Response<Incoming>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mode = mode(method, &res);
        let (parts, mut body) = res.into_parts();
        let read_err =
            |e: hyper::Error| self.fail(ErrorKind::Node, format!("reading the body: {}", chain(&e)));
        match mode {
            Mode::Whole => {
                let bytes = within(deadline, body.collect())
                    .await
                    .ok_or_else(|| self.timed_out())?
                    .map_err(read_err)?
                    .to_bytes();
                let ct = parts
                    .headers
                    .get(CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let decoded = decode_body(ct.as_deref(), bytes)
                    .map_err(|m| self.fail(ErrorKind::UnsupportedValue, format!("response: {m}")))?;
                let mut map = weir_engine::Map::new();
                map.insert("status".into(), Value::from(i64::from(parts.status.as_u16())));
                map.insert("header".into(), header_value(&parts.headers));
                if !decoded.is_null() {
                    map.insert("body".into(), decoded);
                }
                cx.emit(OutPort::OUT, Value::Map(Arc::new(map))).await
            }
            Mode::Events => {
                let mut parser = sse::Parser::new();
                let mut events = Vec::new();
                while let Some(frame) = within(deadline, body.frame())
                    .await
                    .ok_or_else(|| self.timed_out())?
                {
                    let Ok(data) = frame.map_err(read_err)?.into_data() else {
                        continue;
                    };
                    parser
                        .push(&data, &mut events)
                        .map_err(|e| self.fail(ErrorKind::Node, format!("response: {e}")))?;
                    for event in events.drain(..) {
                        if event.event.as_deref() == Some("error") {
                            return Err(self.fail(ErrorKind::Node, format!("error event: {}", event.data)));
                        }
                        cx.emit(OutPort::OUT, event_value(event.data)).await?;
                    }
                }
                Ok(())
            }
            Mode::Chunks { text } => {
                let mut carry = Vec::new();
                while let Some(frame) = within(deadline, body.frame())
                    .await
                    .ok_or_else(|| self.timed_out())?
                {
                    let Ok(data) = frame.map_err(read_err)?.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    let value = if text {
                        let s = utf8_chunk(&mut carry, &data);
                        if s.is_empty() {
                            continue;
                        }
                        Value::from(s)
                    } else {
                        Value::Bytes(data)
                    };
                    cx.emit(OutPort::OUT, value).await?;
                }
                if !carry.is_empty() {
                    cx.emit(
                        OutPort::OUT,
                        Value::from(String::from_utf8_lossy(&carry).into_owned()),
                    )
                    .await?;
                }
                Ok(())
            }
        }
    }
}

impl Node for HttpClient {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut out = Outgoing::from_value(input.packet.value)
            .map_err(|m| Error::new(ErrorKind::UnsupportedValue, format!("{}: {m}", self.label)))?;
        out.apply(&self.base);
        let url = out
            .url()
            .map_err(|m| Error::new(ErrorKind::UnsupportedValue, format!("{}: {m}", self.label)))?;
        let what = format!("{} {url}", out.method.to_ascii_uppercase());
        let exchange = Exchange {
            label: &self.label,
            what: &what,
            timeout: self.timeout,
        };
        let req = out
            .into_request_to(&url)
            .map_err(|m| exchange.fail(ErrorKind::UnsupportedValue, m))?;
        let method = req.method().clone();
        let res = exchange.send(&self.client, req, deadline).await?;
        exchange.respond(cx, &method, res, deadline).await
    }
}

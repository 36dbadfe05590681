//! `llm`: an OpenAI-compatible chat-completions client that streams. For each payload (a prompt, see
//! [`super::prompt`]) it POSTs `{base_url}/chat/completions` with `stream: true`, reads the SSE
//! response as it arrives ([`super::sse`]) and emits each token (`choices[0].delta.content`) on `out`
//! at once, as its own packet; the input's reply ends when the server sends `[DONE]`.
//!
//! Fields: `base_url`, `model`, `api_key` (sent as a bearer token; bind it from a Value through the
//! spec's `env`: `api_key: '{{ .OPENAI_KEY }}'`), `system`, `temperature`, `max_tokens`, `timeout`.
//! Ports: `in` → `out` (one packet per token), `error`. An HTTP error status, a malformed event, an
//! error event and a silence longer than `timeout` fail the input with an error naming the namespace,
//! the spec and the field. When the process ends (the HTTP client went away, a job was cancelled) the
//! engine drops the handler, and with it the connection to the server, which stops generating.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::HeaderValue;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::{FieldError, FieldIssue};
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, OutPort, Result, Value};

use super::chunk::{token_of, whole_answer, Token, TokenError};
use super::prompt::{self, PromptError};
use crate::control::snippet::duration_schema;
use crate::sse::{self, Parser};

/// How long `llm` waits for the response head and then for each next piece of it, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the rest of a body after `[DONE]` is read, to keep its connection for the next call.
const DRAIN_FOR: Duration = Duration::from_secs(1);

/// The fields of an `llm` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct LlmFields {
    /// The API's base URL, up to the version: `https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1`. Requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model to ask (`gpt-4o-mini`, `llama3.2`…).
    pub model: String,
    /// The API key, sent as `Authorization: Bearer …`; none when absent or empty. Bind it from a Value
    /// through the spec's `env` (`api_key: '{{ .OPENAI_KEY }}'`) rather than writing it in the spec.
    #[serde(default)]
    pub api_key: Option<String>,
    /// A system prompt put before the payload's messages (unless they start with their own).
    #[serde(default)]
    pub system: Option<String>,
    /// Sampling temperature, sent when given.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// The most tokens to generate, sent when given.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_tokens: Option<u64>,
    /// The longest wait for the response head, then for each next piece of the stream (`"30s"` or a
    /// number of milliseconds); default 60s, `0` for none. A slow but steady stream never times out.
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<Json>,
}

/// The `llm` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct LlmKind;

impl Kind for LlmKind {
    const KIND: &'static str = "llm";
    type Fields = LlmFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Asks an OpenAI-compatible chat-completions API and streams the answer, one packet per token."
    }

    fn compile(&self, fields: LlmFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Llm::new(fields, cx)?))
    }
}

/// Why a completion failed; each names the field it concerns.
#[derive(Debug, thiserror::Error)]
enum LlmError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error("could not reach {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("HTTP {status} from {url}: {body}")]
    Status {
        status: String,
        url: String,
        body: String,
    },
    #[error("malformed event from {url}: {reason}: {data:?}")]
    Malformed {
        url: String,
        reason: String,
        data: String,
    },
    #[error("the server reported an error: {0}")]
    Server(String),
    #[error("nothing came from {url} for {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("the response from {url} broke off: {reason}")]
    Broken { url: String, reason: String },
    #[error(transparent)]
    TooLarge(#[from] sse::TooLarge),
}

impl LlmError {
    /// The spec field an error is about.
    fn field(&self) -> &'static str {
        match self {
            LlmError::Prompt(_) => "",
            LlmError::Status { status, .. } if status.starts_with("401") || status.starts_with("403") => {
                "api_key"
            }
            // A 404 is an unknown model when the server says so, else a wrong URL.
            LlmError::Status { status, body, .. } if status.starts_with("404") && body.contains("model") => {
                "model"
            }
            LlmError::Timeout { .. } => "timeout",
            _ => "base_url",
        }
    }

    fn kind(&self) -> ErrorKind {
        match self {
            LlmError::Prompt(_) => ErrorKind::UnsupportedValue,
            LlmError::Timeout { .. } => ErrorKind::Timeout,
            _ => ErrorKind::Node,
        }
    }
}

/// What every call of one `llm` node shares.
struct Config {
    namespace: String,
    name: String,
    client: reqwest::Client,
    url: reqwest::Url,
    model: String,
    auth: Option<HeaderValue>,
    system: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    timeout: Option<Duration>,
}

/// A compiled `llm` node.
#[derive(Clone)]
pub struct Llm(Arc<Config>);

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Llm")
            .field("url", &self.0.url.as_str())
            .field("model", &self.0.model)
            .finish_non_exhaustive()
    }
}

/// A field rendered from a template whose key the env lacks.
fn unset(field: &str, value: &str) -> Option<FieldIssue> {
    value.contains("<no value>").then(|| {
        FieldIssue::new(
            field,
            format!("{value:?} has \"<no value>\": the spec's env has no value for its template"),
        )
    })
}

impl Llm {
    /// Checks the fields and builds the node's HTTP client; errors name the field at fault.
    pub fn new(fields: LlmFields, cx: &CompileContext<'_>) -> std::result::Result<Self, FieldIssue> {
        let base = fields.base_url.trim().trim_end_matches('/');
        if let Some(issue) = unset("base_url", base) {
            return Err(issue);
        }
        let url = reqwest::Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| FieldIssue::new("base_url", format!("{:?} is not a URL: {e}", fields.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FieldIssue::new(
                "base_url",
                format!("{:?}: the scheme must be http or https", fields.base_url),
            ));
        }
        if url.scheme() == "https" && !super::TLS {
            return Err(FieldIssue::new(
                "base_url",
                "https needs weir built with the `tls` feature of weir-extensions; use an http URL",
            ));
        }
        if fields.model.trim().is_empty() {
            return Err(FieldIssue::new("model", "must not be empty"));
        }
        if let Some(issue) = unset("model", &fields.model) {
            return Err(issue);
        }
        let auth = match fields.api_key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(key) if key.contains("<no value>") => {
                return Err(FieldIssue::new(
                    "api_key",
                    "has \"<no value>\": the spec's env has no value for its template",
                ))
            }
            Some(key) => Some(
                HeaderValue::from_str(&format!("Bearer {key}"))
                    .map(|mut v| {
                        v.set_sensitive(true);
                        v
                    })
                    .map_err(|_| FieldIssue::new("api_key", "must be printable text on one line"))?,
            ),
        };
        let timeout = match &fields.timeout {
            None | Some(Json::Null) => Some(DEFAULT_TIMEOUT),
            Some(v) => Some(weir_codecs::coerce::to_duration(v, "timeout")?).filter(|t| !t.is_zero()),
        };
        let mut builder = reqwest::Client::builder().no_proxy().tcp_nodelay(true);
        if let Some(t) = timeout {
            builder = builder.connect_timeout(t);
        }
        let client = builder
            .build()
            .map_err(|e| FieldIssue::new("base_url", format!("cannot build an HTTP client: {e}")))?;
        Ok(Llm(Arc::new(Config {
            namespace: cx.namespace.to_string(),
            name: cx.name.to_string(),
            client,
            url,
            model: fields.model,
            auth,
            system: fields.system,
            temperature: fields.temperature,
            max_tokens: fields.max_tokens,
            timeout,
        })))
    }

    /// The error as a reply: `namespace "n": spec "s" (kind llm): field "f": …`.
    fn fail(&self, e: LlmError) -> Error {
        let sentence = FieldError {
            namespace: self.0.namespace.clone(),
            resource_kind: "spec",
            name_or_id: self.0.name.clone(),
            spec_kind: Some(LlmKind::KIND.to_string()),
            field: e.field().to_string(),
            message: e.to_string(),
        };
        Error::new(e.kind(), sentence.to_string())
    }

    fn request_body(&self, payload: &Value) -> std::result::Result<Vec<u8>, LlmError> {
        let c = &self.0;
        let mut body = json!({
            "model": c.model,
            "messages": prompt::messages(payload, c.system.as_deref())?,
            "stream": true,
        });
        if let Some(t) = c.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = c.max_tokens {
            body["max_tokens"] = json!(n);
        }
        Ok(body.to_string().into_bytes())
    }

    /// Waits for `fut` at most the configured timeout.
    async fn within<T>(&self, fut: impl std::future::Future<Output = T>) -> std::result::Result<T, LlmError> {
        match self.0.timeout {
            None => Ok(fut.await),
            Some(after) => tokio::time::timeout(after, fut)
                .await
                .map_err(|_| LlmError::Timeout {
                    url: self.0.url.to_string(),
                    after,
                }),
        }
    }

    /// Runs one completion, emitting each token.
    async fn complete(&self, cx: &mut Cx, payload: &Value) -> std::result::Result<(), Failure> {
        let c = &self.0;
        let url = || c.url.to_string();
        let body = self.request_body(payload)?;
        let mut req = c
            .client
            .post(c.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream")
            .body(body);
        if let Some(auth) = &c.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        let res = self.within(req.send()).await?.map_err(|e| LlmError::Connect {
            url: url(),
            reason: chain(&e),
        })?;
        let status = res.status();
        if !status.is_success() {
            let text = self.within(res.text()).await?.unwrap_or_default();
            return Err(LlmError::Status {
                status: status.to_string(),
                url: url(),
                body: snippet_of(&text),
            }
            .into());
        }
        let is_json = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        if is_json {
            // A server that ignores `stream: true` answers with the whole completion.
            let text = self.within(res.text()).await?.map_err(|e| LlmError::Broken {
                url: url(),
                reason: chain(&e),
            })?;
            let token = whole_answer(&text).map_err(|reason| LlmError::Malformed {
                url: url(),
                reason,
                data: snippet_of(&text),
            })?;
            let token = Value::from(token);
            cx.chunk(&token, true);
            cx.emit(OutPort::OUT, token).await?;
            return Ok(());
        }
        let mut stream = res.bytes_stream();
        let mut parser = Parser::new();
        let mut events = Vec::new();
        let mut finished = false;
        loop {
            let chunk = match self.within(stream.next()).await? {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    return Err(LlmError::Broken {
                        url: url(),
                        reason: chain(&e),
                    }
                    .into())
                }
            };
            parser.push(&chunk, &mut events)?;
            for event in events.drain(..) {
                match token_of(&event) {
                    Ok(Token::Done) => {
                        cx.chunk(&Value::from(""), true);
                        // Read the body's end off the critical path so the connection goes back to
                        // the pool (a body dropped half-read closes it).
                        tokio::spawn(async move {
                            let drain = async { while let Some(Ok(_)) = stream.next().await {} };
                            let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
                        });
                        return Ok(());
                    }
                    Ok(Token::Text(text)) => {
                        // A job's watchers get each token as a `chunk` event too.
                        let token = Value::from(text);
                        cx.chunk(&token, false);
                        cx.emit(OutPort::OUT, token).await?;
                    }
                    Ok(Token::Finished) => finished = true,
                    Ok(Token::Nothing) => {}
                    Err(TokenError::Server(message)) => return Err(LlmError::Server(message).into()),
                    Err(TokenError::Malformed(reason)) => {
                        return Err(LlmError::Malformed {
                            url: url(),
                            reason,
                            data: snippet_of(&event.data),
                        }
                        .into())
                    }
                }
            }
        }
        if finished {
            // Some servers end the body after the finishing chunk without `[DONE]`.
            return Ok(());
        }
        Err(LlmError::Broken {
            url: url(),
            reason: "it ended before the completion did (no [DONE])".to_string(),
        }
        .into())
    }
}

/// A completion that stopped: its own error, or the engine's (downstream gone, process ended),
/// which is passed on as it is.
enum Failure {
    Llm(LlmError),
    Engine(Error),
}

impl From<LlmError> for Failure {
    fn from(e: LlmError) -> Self {
        Failure::Llm(e)
    }
}

impl From<PromptError> for Failure {
    fn from(e: PromptError) -> Self {
        Failure::Llm(e.into())
    }
}

impl From<sse::TooLarge> for Failure {
    fn from(e: sse::TooLarge) -> Self {
        Failure::Llm(e.into())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Engine(e)
    }
}

impl Node for Llm {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        match self.complete(cx, &input.packet.value).await {
            Ok(()) => Ok(()),
            Err(Failure::Llm(e)) => Err(self.fail(e)),
            Err(Failure::Engine(e)) => Err(e),
        }
    }
}

/// The start of a body, for an error message.
fn snippet_of(text: &str) -> String {
    const MAX: usize = 512;
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// An error with its sources, in one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    Error::from_source(ErrorKind::Node, e).message().to_string()
}

#[cfg(test)]
#[path = "llm_tests.rs"]
mod tests;

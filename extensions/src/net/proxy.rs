//! The `proxy` kind: a reverse proxy (uniflow's `proxy` node, Go's `httputil.ReverseProxy` with
//! `SetURL` and `SetXForwarded`). Each request payload is forwarded to the next of `urls` in round
//! robin, starting at the first (uniflow starts at the second: a known bug), with
//! `X-Forwarded-For` (the client's IP appended to what came in), `X-Forwarded-Host` (the request's
//! host) and `X-Forwarded-Proto` (`http` or `https`). The response is read as `http` reads it.

use std::sync::atomic::{AtomicUsize, Ordering};

use http::header::HeaderValue;
use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, Result};

use super::http_client::{base_field, pool, Exchange, HttpPool};
use super::outgoing::{encode_query, escape_path, Base, Outgoing};
use super::serve::REMOTE_ADDR;

/// The `proxy` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProxyFields {
    /// The servers to forward to, in round robin starting at the first: `http(s)://host[:port][/path]`.
    /// A URL's path is put in front of the request's path, its query before the request's query.
    pub urls: Vec<String>,
}

/// The codec of `proxy`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProxyKind;

impl Kind for ProxyKind {
    const KIND: &'static str = "proxy";
    type Fields = ProxyFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "A reverse proxy: forwards each request to the next of `urls` (round robin) with X-Forwarded \
         headers and emits the response."
    }

    fn compile(&self, f: ProxyFields, cx: &CompileContext<'_>) -> std::result::Result<BoxedNode, FieldIssue> {
        if f.urls.is_empty() {
            return Err(FieldIssue::new("urls", "at least one URL is needed"));
        }
        let mut targets = Vec::with_capacity(f.urls.len());
        for (i, url) in f.urls.iter().enumerate() {
            let field = format!("urls.{i}");
            let base = base_field(url, &field)?;
            if base.host.is_empty() {
                return Err(FieldIssue::new(field, format!("{url:?} has no host")));
            }
            targets.push(base);
        }
        let client = pool(cx.namespace).map_err(|m| FieldIssue::new("urls", m))?;
        Ok(BoxedNode::new(Proxy {
            label: format!("proxy {}/{}", cx.namespace, cx.name),
            targets,
            next: AtomicUsize::new(0),
            client,
        }))
    }
}

/// The running `proxy` node.
pub struct Proxy {
    label: String,
    targets: Vec<Base>,
    next: AtomicUsize,
    client: HttpPool,
}

/// Go's `singleJoiningSlash`: `a` and `b` joined by exactly one slash.
fn joining_slash(a: &str, b: &str) -> String {
    match (a.ends_with('/'), b.starts_with('/')) {
        (true, true) => format!("{a}{}", &b[1..]),
        (false, false) => format!("{a}/{b}"),
        _ => format!("{a}{b}"),
    }
}

/// The URL a request goes to on `target` (Go's `ProxyRequest.SetURL`).
fn target_url(target: &Base, out: &Outgoing) -> String {
    let path = if target.path.is_empty() {
        out.path.clone()
    } else {
        joining_slash(&target.path, &out.path)
    };
    let mut path = escape_path(&path);
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let scheme = if target.scheme.is_empty() {
        "http"
    } else {
        &target.scheme
    };
    let mut url = format!("{scheme}://{}{path}", target.host);
    let mut query = Vec::new();
    let mut own = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (k, v) in &target.query {
        own.entry(k.clone()).or_default().push(v.clone());
    }
    for q in [encode_query(&own), encode_query(&out.query)] {
        if !q.is_empty() {
            query.push(q);
        }
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

impl Proxy {
    fn bad(&self, m: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::UnsupportedValue, format!("{}: {m}", self.label))
    }

    /// Sets the X-Forwarded headers on `out` (the incoming values are kept, the client appended).
    fn forward_headers(&self, out: &mut Outgoing, client: Option<String>) -> Result<()> {
        let h = &mut out.header;
        if let Some(ip) = client {
            let prior: Vec<String> = h
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let value = if prior.is_empty() {
                ip
            } else {
                format!("{}, {ip}", prior.join(", "))
            };
            h.insert(
                "x-forwarded-for",
                HeaderValue::from_str(&value).map_err(|_| self.bad("invalid X-Forwarded-For"))?,
            );
        } else {
            h.remove("x-forwarded-for");
        }
        if !out.host.is_empty() {
            h.insert(
                "x-forwarded-host",
                HeaderValue::from_str(&out.host)
                    .map_err(|_| self.bad(format!("invalid host {:?}", out.host)))?,
            );
        }
        let proto = if out.scheme.eq_ignore_ascii_case("https") {
            "https"
        } else {
            "http"
        };
        h.insert("x-forwarded-proto", HeaderValue::from_static(proto));
        Ok(())
    }
}

impl Node for Proxy {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let value = input.packet.value;
        if value.as_map().is_none() {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "{}: expected an HTTP request payload, got {}",
                    self.label,
                    value.type_name()
                ),
            ));
        }
        let mut out = Outgoing::from_value(value).map_err(|m| self.bad(m))?;
        if out.method.is_empty() {
            out.method = "GET".into();
        }
        let client = cx
            .process()
            .get(REMOTE_ADDR)
            .and_then(|v| v.as_str().and_then(|a| a.parse::<std::net::SocketAddr>().ok()))
            .map(|a| a.ip().to_string());
        self.forward_headers(&mut out, client)?;
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.targets.len();
        let url = target_url(&self.targets[i], &out);
        let what = format!("{} {url}", out.method.to_ascii_uppercase());
        let exchange = Exchange {
            label: &self.label,
            what: &what,
            timeout: None,
        };
        let req = out
            .into_request_to(&url)
            .map_err(|m| exchange.fail(ErrorKind::UnsupportedValue, m))?;
        let method = req.method().clone();
        let res = exchange.send(&self.client, req, None).await?;
        exchange.respond(cx, &method, res, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_proxy_urls_join_like_go() {
        assert_eq!(joining_slash("/a/", "/b"), "/a/b");
        assert_eq!(joining_slash("/a", "b"), "/a/b");
        assert_eq!(joining_slash("/a", "/b"), "/a/b");
        let target = Base::parse("http://h:1/base?t=1").unwrap();
        let mut out = Outgoing {
            path: "/x y".into(),
            ..Outgoing::default()
        };
        out.query.insert("q".into(), vec!["2".into()]);
        assert_eq!(target_url(&target, &out), "http://h:1/base/x%20y?t=1&q=2");
        let bare = Base::parse("https://h").unwrap();
        assert_eq!(target_url(&bare, &Outgoing::default()), "https://h/");
    }
}

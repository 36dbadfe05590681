//! Outgoing HTTP requests from uniflow's payload, shared by `http` and `proxy`: the node's URL
//! (`Base`), Go's `url.JoinPath` rule for paths, Go's sorted query encoding, and the payload turned
//! into a request (a map of the payload's keys is a request; any other value is the body).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::Full;
use weir_engine::Value;

use super::http::{encode_body, percent_decode, PAYLOAD_KEYS};

/// Headers of an incoming payload never sent on: hop-by-hop ones, the ones the client computes, and
/// `Accept-Encoding` (bodies are decoded, so they must arrive uncompressed).
const DROPPED: &[&str] = &[
    "host",
    "accept-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// A parsed URL in Go's terms: `path` decoded, the query as ordered pairs.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Base {
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl Base {
    /// Parses `https://host:port/path?query`, or a bare path.
    pub(crate) fn parse(url: &str) -> Result<Base, String> {
        let url = url.trim();
        if url.is_empty() {
            return Ok(Base::default());
        }
        let uri: Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let mut query = Vec::new();
        if let Some(q) = uri.query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                query.push((percent_decode(k, true), percent_decode(v, true)));
            }
        }
        let host = uri
            .authority()
            .map(|a| a.as_str().rsplit('@').next().unwrap_or("").to_string())
            .unwrap_or_default();
        // `http::Uri` writes `/` for `https://host`; Go keeps the path empty.
        let path = if uri.authority().is_some() && !has_path(url) {
            String::new()
        } else {
            percent_decode(uri.path(), false)
        };
        Ok(Base {
            scheme: uri.scheme_str().unwrap_or("").to_ascii_lowercase(),
            host,
            path,
            query,
        })
    }
}

/// Whether an absolute URL spells a path after its authority.
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find(['/', '?', '#'])
        .is_some_and(|i| rest.as_bytes()[i] == b'/')
}

/// Go's `path.Clean` of an absolute path.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `url.JoinPath(base, elem)` on paths: joined and cleaned, a trailing slash kept only when
/// `elem` ends with one; a relative base stays relative.
pub(crate) fn join_path(base: &str, elem: &str) -> String {
    let relative = !base.starts_with('/');
    let joined = clean(&format!("/{base}/{elem}"));
    let mut p = if relative { joined[1..].to_string() } else { joined };
    if elem.ends_with('/') && !p.ends_with('/') {
        p.push('/');
    }
    p
}

fn escape(s: &str, keep: &[u8], plus_space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else if b == b' ' && plus_space {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A decoded path escaped for a URL (Go's `EscapedPath`).
pub(crate) fn escape_path(path: &str) -> String {
    escape(path, b"/$&+,:;=@", false)
}

/// Go's `url.Values.Encode`: keys sorted, values in order, `application/x-www-form-urlencoded`.
pub(crate) fn encode_query(query: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = Vec::new();
    for (k, values) in query {
        for v in values {
            out.push(format!("{}={}", escape(k, b"", true), escape(v, b"", true)));
        }
    }
    out.join("&")
}

/// A request read from a payload.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outgoing {
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub query: BTreeMap<String, Vec<String>>,
    pub header: HeaderMap,
    pub body: Value,
}

/// True when a map is a request in the payload's shape rather than a body.
fn is_request(map: &weir_engine::Map) -> bool {
    map.keys().all(|k| PAYLOAD_KEYS.contains(&k.as_str()))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::List(l) => l.iter().map(|i| i.to_string()).collect(),
        v => vec![v.to_string()],
    }
}

impl Outgoing {
    /// Reads the payload: a map with only the payload's keys is a request (`method`, `scheme`, `host`,
    /// `path`, `query`, `header`, `body`), anything else is the body of a request.
    pub(crate) fn from_value(value: Value) -> Result<Outgoing, String> {
        let Some(map) = value.as_map().filter(|m| is_request(m)) else {
            return Ok(Outgoing {
                body: value,
                ..Outgoing::default()
            });
        };
        let text = |key: &str| -> Result<String, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.to_string()),
                Some(v) => Err(format!("request {key} must be a string, got {}", v.type_name())),
            }
        };
        let mut out = Outgoing {
            method: text("method")?,
            scheme: text("scheme")?,
            host: text("host")?,
            path: text("path")?,
            body: map.get("body").cloned().unwrap_or_default(),
            ..Outgoing::default()
        };
        match map.get("query") {
            None | Some(Value::Null) => {}
            Some(Value::Map(q)) => {
                for (k, v) in q.iter() {
                    out.query.entry(k.clone()).or_default().extend(strings(v));
                }
            }
            Some(v) => return Err(format!("request query must be a map, got {}", v.type_name())),
        }
        match map.get("header") {
            None | Some(Value::Null) => {}
            Some(Value::Map(h)) => {
                for (name, values) in h.iter() {
                    if DROPPED.contains(&name.to_ascii_lowercase().as_str()) {
                        continue;
                    }
                    let header = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("invalid request header name {name:?}"))?;
                    for v in strings(values) {
                        let v = HeaderValue::from_str(&v)
                            .map_err(|_| format!("invalid value for request header {name:?}"))?;
                        out.header.append(header.clone(), v);
                    }
                }
            }
            Some(v) => return Err(format!("request header must be a map, got {}", v.type_name())),
        }
        Ok(out)
    }

    /// Applies the node's URL as uniflow does: its scheme and host win, its path is joined in front
    /// of the payload's, its query is added.
    pub(crate) fn apply(&mut self, base: &Base) {
        if !base.scheme.is_empty() {
            self.scheme = base.scheme.clone();
        }
        if !base.host.is_empty() {
            self.host = base.host.clone();
        }
        if !base.path.is_empty() {
            self.path = join_path(&base.path, &self.path);
        }
        for (k, v) in &base.query {
            self.query.entry(k.clone()).or_default().push(v.clone());
        }
        if self.method.is_empty() {
            self.method = if self.body.is_null() { "GET" } else { "POST" }.to_string();
        }
    }

    /// The request URL.
    pub(crate) fn url(&self) -> Result<String, String> {
        if self.host.is_empty() {
            return Err("no host: set the node's url or the payload's host".to_string());
        }
        let scheme = if self.scheme.is_empty() {
            "http"
        } else {
            &self.scheme
        };
        let mut path = escape_path(&self.path);
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let mut url = format!("{scheme}://{}{path}", self.host);
        let query = encode_query(&self.query);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        Ok(url)
    }

    /// The request to send.
    #[cfg(test)]
    pub(crate) fn into_request(self) -> Result<Request<Full<Bytes>>, String> {
        let url = self.url()?;
        self.into_request_to(&url)
    }

    /// The request to send, to `url`.
    pub(crate) fn into_request_to(mut self, url: &str) -> Result<Request<Full<Bytes>>, String> {
        let uri: Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let method = Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid method {:?}", self.method))?;
        let body = encode_body(&self.body, &mut self.header)?;
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = self.header;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_join_path_follows_go() {
        assert_eq!(join_path("/api", "/users/1"), "/api/users/1");
        assert_eq!(join_path("/api/", "users"), "/api/users");
        assert_eq!(join_path("/api", ""), "/api");
        assert_eq!(join_path("/api/", ""), "/api");
        assert_eq!(join_path("/", ""), "/");
        assert_eq!(join_path("/api", "dir/"), "/api/dir/");
        assert_eq!(join_path("/a/b", "../c"), "/a/c");
        assert_eq!(join_path("/a", "../../x"), "/x");
        assert_eq!(join_path("a", "b"), "a/b");
    }

    #[test]
    fn net_base_urls_parse_like_go() {
        let b = Base::parse("https://example.com:8443/api/v1?k=1&k=2&x=a+b").unwrap();
        assert_eq!(
            (b.scheme.as_str(), b.host.as_str(), b.path.as_str()),
            ("https", "example.com:8443", "/api/v1")
        );
        assert_eq!(
            b.query,
            vec![
                ("k".into(), "1".into()),
                ("k".into(), "2".into()),
                ("x".into(), "a b".into())
            ]
        );
        assert_eq!(Base::parse("http://h").unwrap().path, "");
        assert_eq!(Base::parse("http://h/").unwrap().path, "/");
        assert_eq!(Base::parse("http://h?q=1").unwrap().path, "");
        assert_eq!(Base::parse("").unwrap(), Base::default());
        assert!(Base::parse("http://bad host/").is_err());
    }

    #[test]
    fn net_outgoing_requests_from_payloads() {
        let base = Base::parse("http://h:1/api?z=9").unwrap();
        let mut o = Outgoing::from_value(Value::from(&serde_json::json!({
            "path": "/a b", "query": {"b": ["2"], "a": "1"}, "header": {"Host": ["x"], "X-K": "v", "Accept-Encoding": ["gzip"]}
        })))
        .unwrap();
        o.apply(&base);
        assert_eq!(o.method, "GET");
        assert_eq!(o.url().unwrap(), "http://h:1/api/a%20b?a=1&b=2&z=9");
        assert!(o.header.get("host").is_none());
        assert!(o.header.get("accept-encoding").is_none());
        assert_eq!(o.header["x-k"], "v");
        // Anything that is not a request is a body, sent with POST.
        let mut o = Outgoing::from_value(Value::from(&serde_json::json!({"prompt": "hi"}))).unwrap();
        o.apply(&base);
        assert_eq!(o.method, "POST");
        let req = o.into_request().unwrap();
        assert_eq!(req.headers()["content-type"], "application/json");
        assert!(Outgoing::from_value(Value::from(&serde_json::json!({"method": 3}))).is_err());
        let mut none = Outgoing::default();
        none.apply(&Base::default());
        assert!(none.url().unwrap_err().contains("no host"));
    }
}

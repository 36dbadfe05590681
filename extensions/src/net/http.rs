//! uniflow's HTTP payload, both ways. A request becomes a map `{method, scheme, host, path, query,
//! protocol, header, cookies, body}` (header and query values are lists of strings, header names in
//! Go's canonical form, the body decoded by its content type). A reply value becomes a response: a
//! map in the payload's shape (`status`, `header`, `body`, `cookies`) is a full response, any other
//! value is the body of a 200.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{StatusCode, Version};
use weir_engine::{Map, Value};

/// The keys of uniflow's HTTP payload (plus the router's `params`).
pub(crate) const PAYLOAD_KEYS: &[&str] = &[
    "method", "scheme", "host", "path", "query", "protocol", "header", "body", "status", "cookies", "params",
];

/// Headers never copied from a reply into a response: hop-by-hop ones, the ones the server computes,
/// and request-only ones (a node that echoes the request must not send them back).
const SKIPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "content-length",
    "host",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cookie",
    "expect",
    "from",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "max-forwards",
    "origin",
    "proxy-authorization",
    "range",
    "referer",
    "user-agent",
];

pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
pub(crate) const APPLICATION_JSON: &str = "application/json";
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";
pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

/// Go's canonical header key: `content-type` → `Content-Type`.
pub(crate) fn canonical_header(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// Percent-decoding (invalid escapes are kept as they are); with `plus`, `+` is a space (queries, forms).
pub(crate) fn percent_decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `a=1&b=2&a=3` → `{a: ["1", "3"], b: ["2"]}` (Go's `url.Values`).
pub(crate) fn parse_query(q: &str) -> Value {
    let mut map = Map::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let entry = map
            .entry(percent_decode(k, true))
            .or_insert_with(|| Value::list([]));
        if let Value::List(list) = entry {
            std::sync::Arc::make_mut(list).push(Value::from(percent_decode(v, true)));
        }
    }
    Value::Map(std::sync::Arc::new(map))
}

/// Request headers as `{Canonical-Name: [values]}`.
pub(crate) fn header_value(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for (name, value) in headers {
        let entry = map
            .entry(canonical_header(name.as_str()))
            .or_insert_with(|| Value::list([]));
        if let Value::List(list) = entry {
            std::sync::Arc::make_mut(list).push(Value::from(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    Value::Map(std::sync::Arc::new(map))
}

/// The request's cookies as `{name: value}` (the first of a repeated name wins).
fn cookie_value(headers: &HeaderMap) -> Value {
    let mut map = Map::new();
    for header in headers.get_all(COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for pair in text.split(';') {
            if let Some((k, v)) = pair.split_once('=') {
                let v = v.trim().trim_matches('"');
                map.entry(k.trim().to_string()).or_insert_with(|| Value::from(v));
            }
        }
    }
    Value::Map(std::sync::Arc::new(map))
}

pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(crate) fn is_json(media: &str) -> bool {
    media == APPLICATION_JSON || media.ends_with("+json")
}

/// Decodes a request body by its content type: JSON into a value (malformed JSON is an error), a form
/// into a map of lists, text (or no type) into a string, anything else into bytes. Empty is null.
pub(crate) fn decode_body(content_type: Option<&str>, body: Bytes) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let media = content_type.map(media_type);
    match media.as_deref() {
        Some(m) if is_json(m) => serde_json::from_slice::<serde_json::Value>(&body)
            .map(|j| Value::from(&j))
            .map_err(|e| format!("malformed JSON body: {e}")),
        Some(FORM) => Ok(parse_query(&String::from_utf8_lossy(&body))),
        Some(m) if !m.starts_with("text/") => Ok(Value::Bytes(body)),
        _ => match String::from_utf8(body.to_vec()) {
            Ok(s) => Ok(Value::from(s)),
            Err(_) => Ok(Value::Bytes(body)),
        },
    }
}

/// The request as uniflow's payload, its body already decoded.
/// `scheme` is the connection's (`http` or `https`) unless the request URI names one.
pub(crate) fn request_value(parts: &Parts, body: Value, scheme: &str) -> Value {
    let host = parts
        .uri
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        })
        .unwrap_or_default();
    let protocol = match parts.version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    };
    let mut map = Map::new();
    map.insert("method".into(), Value::from(parts.method.as_str()));
    map.insert(
        "scheme".into(),
        Value::from(parts.uri.scheme_str().unwrap_or(scheme)),
    );
    map.insert("host".into(), Value::from(host));
    map.insert(
        "path".into(),
        Value::from(percent_decode(parts.uri.path(), false)),
    );
    map.insert("query".into(), parse_query(parts.uri.query().unwrap_or("")));
    map.insert("protocol".into(), Value::from(protocol));
    map.insert("header".into(), header_value(&parts.headers));
    map.insert("cookies".into(), cookie_value(&parts.headers));
    if !body.is_null() {
        map.insert("body".into(), body);
    }
    Value::Map(std::sync::Arc::new(map))
}

/// A response ready to send: status, headers and a whole body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A plain-text response.
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
        Reply {
            status,
            headers,
            body: Bytes::from(text.into()),
        }
    }
}

/// True when a map is a response in uniflow's shape rather than a body.
fn is_response(map: &Map) -> bool {
    map.keys().all(|k| PAYLOAD_KEYS.contains(&k.as_str()))
        && ["status", "header", "body"].iter().any(|k| map.contains_key(*k))
}

/// Turns one reply value into a response. Errors say what in the value is wrong.
pub(crate) fn reply_from_value(value: &Value) -> Result<Reply, String> {
    let Some(map) = value.as_map().filter(|m| is_response(m)) else {
        let mut headers = HeaderMap::new();
        let body = encode_body(value, &mut headers)?;
        return Ok(Reply {
            status: StatusCode::OK,
            headers,
            body,
        });
    };
    let status = match map.get("status") {
        None | Some(Value::Null) => StatusCode::OK,
        Some(v) => match v.as_i64() {
            Some(0) => StatusCode::OK,
            Some(n) => u16::try_from(n)
                .ok()
                .and_then(|n| StatusCode::from_u16(n).ok())
                .ok_or_else(|| format!("invalid response status {n}"))?,
            None => {
                return Err(format!(
                    "response status must be an integer, got {}",
                    v.type_name()
                ))
            }
        },
    };
    let mut headers = HeaderMap::new();
    if let Some(h) = map.get("header").filter(|h| !h.is_null()) {
        let Some(h) = h.as_map() else {
            return Err(format!("response header must be a map, got {}", h.type_name()));
        };
        for (name, values) in h {
            let lower = name.to_ascii_lowercase();
            // A 101 switching protocols keeps the headers that say to what.
            let switching =
                status == StatusCode::SWITCHING_PROTOCOLS && (lower == "upgrade" || lower == "connection");
            if SKIPPED_HEADERS.contains(&lower.as_str()) && !switching {
                continue;
            }
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid response header name {name:?}"))?;
            let items = match values {
                Value::List(l) => l.iter().cloned().collect(),
                Value::Null => Vec::new(),
                v => vec![v.clone()],
            };
            for item in items {
                let text = item.to_string();
                let v = HeaderValue::from_str(&text)
                    .map_err(|_| format!("invalid value for response header {name:?}"))?;
                headers.append(header.clone(), v);
            }
        }
    }
    if let Some(cookies) = map.get("cookies") {
        for line in set_cookies(cookies)? {
            let v = HeaderValue::from_str(&line).map_err(|_| format!("invalid cookie {line:?}"))?;
            headers.append(SET_COOKIE, v);
        }
    }
    let body = match map.get("body") {
        None => Bytes::new(),
        Some(b) => encode_body(b, &mut headers)?,
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// `Set-Cookie` lines from `cookies`: a map `{name: value}`, or a list of `{name, value, path, domain,
/// max_age, secure, http_only, same_site}`.
fn set_cookies(cookies: &Value) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    match cookies {
        Value::Null => {}
        Value::Map(m) => {
            for (k, v) in m.iter() {
                lines.push(format!("{k}={v}"));
            }
        }
        Value::List(l) => {
            for c in l.iter() {
                let name = c
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("a response cookie needs a name")?;
                let mut line = format!(
                    "{name}={}",
                    c.get("value").map(Value::to_string).unwrap_or_default()
                );
                for (key, attr) in [
                    ("path", "Path"),
                    ("domain", "Domain"),
                    ("max_age", "Max-Age"),
                    ("same_site", "SameSite"),
                ] {
                    if let Some(v) = c.get(key).filter(|v| !v.is_null()) {
                        line.push_str(&format!("; {attr}={v}"));
                    }
                }
                for (key, attr) in [("secure", "Secure"), ("http_only", "HttpOnly")] {
                    if matches!(c.get(key), Some(Value::Bool(true))) {
                        line.push_str(&format!("; {attr}"));
                    }
                }
                lines.push(line);
            }
        }
        other => {
            return Err(format!(
                "response cookies must be a map or a list, got {}",
                other.type_name()
            ))
        }
    }
    Ok(lines)
}

/// Encodes a body by the content type in `headers`, or picks one: a string is text, bytes are an
/// octet stream, null is empty, anything else is JSON. Sets the content type it chose.
pub(crate) fn encode_body(body: &Value, headers: &mut HeaderMap) -> Result<Bytes, String> {
    let media = headers
        .get(CONTENT_TYPE)
        .map(|v| media_type(&String::from_utf8_lossy(v.as_bytes())));
    let (bytes, chosen) = match (media.as_deref(), body) {
        (_, Value::Null) => (Bytes::new(), None),
        (_, Value::Bytes(b)) => (b.clone(), Some(OCTET_STREAM)),
        (Some(m), v) if is_json(m) => (json_bytes(v), None),
        (Some(FORM), Value::Map(m)) => (Bytes::from(form_encode(m)), None),
        (Some(_), v) => (Bytes::from(v.to_string()), None),
        (None, Value::String(s)) => (Bytes::from(s.to_string()), Some(TEXT_PLAIN)),
        (None, v) => (json_bytes(v), Some(APPLICATION_JSON)),
    };
    if let (None, Some(ct)) = (media, chosen) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    Ok(bytes)
}

pub(crate) fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(v.to_json().to_string())
}

fn form_encode(map: &Map) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    let mut pairs = Vec::new();
    for (k, v) in map {
        let items = match v {
            Value::List(l) => l.iter().cloned().collect(),
            v => vec![v.clone()],
        };
        for item in items {
            pairs.push(format!("{}={}", enc(k), enc(&item.to_string())));
        }
    }
    pairs.join("&")
}

/// True when the request's `Accept` names `text/event-stream`.
pub(crate) fn accepts_sse(headers: &HeaderMap) -> bool {
    headers.get_all(http::header::ACCEPT).iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .split(',')
            .any(|t| media_type(t) == "text/event-stream")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_canonical_headers_and_decoding() {
        assert_eq!(canonical_header("content-type"), "Content-Type");
        assert_eq!(canonical_header("x-REQUEST-id"), "X-Request-Id");
        assert_eq!(percent_decode("/a%20b/%zz%", false), "/a b/%zz%");
        assert_eq!(percent_decode("a+b%2B", true), "a b+");
        assert_eq!(percent_decode("%4", false), "%4");
        let q = parse_query("a=1&b=x+y&a=3&flag");
        assert_eq!(
            q.to_json(),
            serde_json::json!({"a": ["1", "3"], "b": ["x y"], "flag": [""]})
        );
    }

    #[test]
    fn net_bodies_by_content_type() {
        let json = decode_body(Some("application/json; charset=utf-8"), Bytes::from(r#"{"a":1}"#)).unwrap();
        assert_eq!(json.to_json(), serde_json::json!({"a": 1}));
        assert!(decode_body(Some("application/json"), Bytes::from("{bad"))
            .unwrap_err()
            .contains("malformed JSON"));
        assert_eq!(
            decode_body(Some("text/plain"), Bytes::from("hi")).unwrap(),
            Value::from("hi")
        );
        assert_eq!(decode_body(None, Bytes::from("hi")).unwrap(), Value::from("hi"));
        assert_eq!(
            decode_body(Some("image/png"), Bytes::from_static(b"\x89P")).unwrap(),
            Value::Bytes(Bytes::from_static(b"\x89P"))
        );
        assert_eq!(
            decode_body(Some("application/json"), Bytes::new()).unwrap(),
            Value::Null
        );
        let form = decode_body(Some(FORM), Bytes::from("a=1&a=2")).unwrap();
        assert_eq!(form.to_json(), serde_json::json!({"a": ["1", "2"]}));
    }

    #[test]
    fn net_replies_become_responses() {
        let r = reply_from_value(&Value::from("pong")).unwrap();
        assert_eq!((r.status, r.body.as_ref()), (StatusCode::OK, b"pong".as_ref()));
        assert_eq!(r.headers[CONTENT_TYPE], TEXT_PLAIN);
        let r = reply_from_value(&Value::map([("a", Value::from(1))])).unwrap();
        assert_eq!(r.body.as_ref(), br#"{"a":1}"#);
        assert_eq!(r.headers[CONTENT_TYPE], APPLICATION_JSON);
        let full = Value::from(&serde_json::json!({
            "status": 201, "header": {"X-A": ["1", "2"], "Content-Length": "99"}, "body": {"ok": true},
            "cookies": [{"name": "s", "value": "v", "http_only": true}]
        }));
        let r = reply_from_value(&full).unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.headers.get_all("x-a").iter().count(), 2);
        assert!(r.headers.get("content-length").is_none());
        assert_eq!(r.headers[SET_COOKIE], "s=v; HttpOnly");
        assert_eq!(r.body.as_ref(), br#"{"ok":true}"#);
        let r = reply_from_value(&Value::from(&serde_json::json!({"status": 204}))).unwrap();
        assert_eq!((r.status, r.body.len()), (StatusCode::NO_CONTENT, 0));
        assert!(reply_from_value(&Value::from(&serde_json::json!({"status": 7}))).is_err());
        assert!(reply_from_value(&Value::from(&serde_json::json!({"status": "x"}))).is_err());
    }
}

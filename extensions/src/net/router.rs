//! The `router` kind: routes an HTTP request payload (uniflow's `{method, path, …}`) to `out[N]` by
//! method and path, as uniflow's router does. `:name` segments and the `*` wildcard fill the payload's
//! `params`; static segments beat parameters, which beat the wildcard. When nothing matches, the
//! router answers the request itself: 404, or 405 with `Allow` when only other methods match, or 204
//! with `Allow` for `OPTIONS`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, OutPort, Result, Value};

use super::route::{Match, Table};

/// The `router` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RouterFields {
    /// The routes, tried by specificity (static, then `:param`, then `*`), not by order.
    #[serde(default)]
    pub routes: Vec<RouteField>,
}

/// One route.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RouteField {
    /// The HTTP method (`GET`, `POST`, …).
    pub method: String,
    /// The path: `/users/:id` names a segment, a final `*` takes the rest of the path.
    pub path: String,
    /// The indexed out port a match goes to: `out[0]`, `out[1]`, …
    #[schemars(regex(pattern = r"^out\[[0-9]+\]$"))]
    pub port: String,
}

/// The codec of `router`.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouterKind;

/// Reads `out[N]` as `N`.
fn port_index(port: &str) -> Option<usize> {
    port.strip_prefix("out[")?.strip_suffix(']')?.parse().ok()
}

impl Kind for RouterKind {
    const KIND: &'static str = "router";
    type Fields = RouterFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[*]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Routes HTTP request payloads to out[N] by method and path (`:param`, `*`); answers 404, 405 \
         with Allow, or 204 to OPTIONS when no route matches."
    }

    fn compile(&self, fields: RouterFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let mut table = Table::default();
        for (i, r) in fields.routes.iter().enumerate() {
            let at = |f: &str| format!("routes.{i}.{f}");
            let Some(port) = port_index(r.port.trim()) else {
                let msg = if r.port.trim() == "out" {
                    "a route's port must be indexed: write out[0], not out".to_string()
                } else {
                    format!("{:?} is not an indexed out port like out[0]", r.port)
                };
                return Err(FieldIssue::new(at("port"), msg));
            };
            let method = r.method.trim().to_ascii_uppercase();
            if method.is_empty()
                || !method
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
            {
                return Err(FieldIssue::new(
                    at("method"),
                    format!("{:?} is not an HTTP method", r.method),
                ));
            }
            table
                .add(&method, r.path.trim(), port)
                .map_err(|e| FieldIssue::new(at("path"), e))?;
        }
        Ok(BoxedNode::new(Router { table }))
    }
}

/// The running router.
#[derive(Debug)]
pub struct Router {
    table: Table,
}

/// A response in uniflow's shape with the status text as its body (none for 204).
fn response(status: u16, allow: Option<&str>) -> Value {
    let text = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut header = weir_engine::Map::new();
    if let Some(allow) = allow {
        header.insert("Allow".into(), Value::list([Value::from(allow)]));
    }
    let mut map = weir_engine::Map::new();
    map.insert("status".into(), Value::from(i64::from(status)));
    map.insert("header".into(), Value::Map(std::sync::Arc::new(header)));
    if status != 204 {
        map.insert("body".into(), Value::from(text));
    }
    Value::Map(std::sync::Arc::new(map))
}

impl Node for Router {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let value = input.packet.value;
        let Some(map) = value.as_map() else {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "router \"{}\" expects an HTTP request map, got {}",
                    cx.node_name(),
                    value.type_name()
                ),
            ));
        };
        let method = map.get("method").and_then(Value::as_str).unwrap_or("GET");
        let path = map.get("path").and_then(Value::as_str).unwrap_or("/");
        match self.table.find(method, path) {
            Match::Found { port, params } => {
                let mut out = map.clone();
                let params = params.into_iter().map(|(k, v)| (k, Value::from(v)));
                out.insert("params".into(), Value::map(params));
                cx.emit(OutPort::Out(port), Value::Map(std::sync::Arc::new(out)))
                    .await
            }
            Match::NotAllowed { allow } if method == "OPTIONS" => cx.reply(response(204, Some(&allow))).await,
            Match::NotAllowed { allow } => cx.reply(response(405, Some(&allow))).await,
            Match::NotFound => cx.reply(response(404, None)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_codecs::codec::Scheme;

    const CX: CompileContext<'static> = CompileContext::new("default", "router");

    fn compile(fields: serde_json::Value) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
        let mut s = Scheme::new();
        s.register(RouterKind);
        let codec = s.get("router").cloned().ok_or_else(Vec::new)?;
        codec.compile(&fields, &CX)
    }

    #[test]
    fn net_router_port_must_be_indexed() {
        let err = compile(json!({"routes": [{"method": "GET", "path": "/", "port": "out"}]})).unwrap_err();
        assert_eq!(err[0].field, "routes.0.port", "{err:?}");
        let ok = json!({"routes": [{"method": "get", "path": "/a", "port": "out[1]"}]});
        assert!(compile(ok).is_ok());
    }

    #[test]
    fn net_router_errors_name_the_field() {
        let err = compile(json!({"routes": [
            {"method": "GET", "path": "/a", "port": "out[0]"},
            {"method": "GET", "path": "/a", "port": "out[1]"}
        ]}))
        .unwrap_err();
        assert_eq!(err[0].field, "routes.1.path");
        assert!(err[0].message.contains("repeats route 0"), "{err:?}");
        let err =
            compile(json!({"routes": [{"method": "GE T", "path": "/a", "port": "out[0]"}]})).unwrap_err();
        assert_eq!(err[0].field, "routes.0.method");
    }
}

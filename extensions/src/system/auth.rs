//! Access tokens of the system API: Values in the `system` namespace named `token-<x>` whose data is
//! `{token: "secret", namespaces: ["a", "b"]}` (`namespaces` absent, null or holding `"*"`: every
//! namespace). While no token exists, the API is open (it binds 127.0.0.1 by default, and the host
//! refuses to bind elsewhere without a token); once one exists, every request needs
//! `Authorization: Bearer <token>`, and a scoped token reaches only its namespaces.
//!
//! The check is the `auth.check` opcode of `syscall`, a step of the system workflow: it reads the
//! request's header, and on success passes the request on unchanged, recording the token's scope in
//! the process ([`super::SCOPE_KEY`]) for the later syscalls of that request.

use serde_json::Value as Json;
use weir_engine::{Error, ErrorKind, Result, Value};
use weir_loader::Store;

use super::ops::store_error;

/// The name prefix of token Values in `system`.
pub const TOKEN_PREFIX: &str = "token-";

/// The tokens defined in `system`: (secret, allowed namespaces or `None` for all).
fn tokens(store: &dyn Store) -> Result<Vec<(String, Option<Vec<String>>)>> {
    let values = store
        .values(Some(weir_engine::channel::SYSTEM))
        .map_err(store_error)?;
    Ok(values
        .into_iter()
        .filter(|v| v.name.as_deref().is_some_and(|n| n.starts_with(TOKEN_PREFIX)))
        .filter_map(|v| {
            let secret = v.data.get("token")?.as_str()?.to_string();
            if secret.is_empty() {
                return None;
            }
            let scope = match v.data.get("namespaces") {
                Some(Json::Array(list)) => {
                    let names: Vec<String> =
                        list.iter().filter_map(Json::as_str).map(str::to_string).collect();
                    (!names.iter().any(|n| n == "*")).then_some(names)
                }
                Some(Json::String(s)) if s != "*" => Some(vec![s.clone()]),
                _ => None,
            };
            Some((secret, scope))
        })
        .collect())
}

/// Whether the store holds at least one access token (requests then need one).
pub fn token_required(store: &dyn Store) -> Result<bool> {
    Ok(!tokens(store)?.is_empty())
}

/// Equal without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The bearer token of a request payload (uniflow's shape: `header.Authorization: ["Bearer x"]`).
fn bearer(payload: &Value) -> Option<String> {
    let header = payload.as_map()?.get("header")?.as_map()?;
    let value = match header.get("Authorization")? {
        Value::List(l) => l.first()?.clone(),
        v => v.clone(),
    };
    let Value::String(s) = value else { return None };
    let s = s.trim();
    let rest = s.strip_prefix("Bearer ").or_else(|| s.strip_prefix("bearer "))?;
    Some(rest.trim().to_string())
}

/// Checks a request's token. `Ok(None)`: no token is needed or it reaches every namespace;
/// `Ok(Some(list))`: the token's namespaces.
pub fn check_token(store: &dyn Store, payload: &Value) -> Result<Option<Vec<String>>> {
    let tokens = tokens(store)?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let Some(given) = bearer(payload) else {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            "an access token is required: send the header Authorization: Bearer <token>",
        ));
    };
    tokens
        .into_iter()
        .find(|(secret, _)| same(secret.as_bytes(), given.as_bytes()))
        .map(|(_, scope)| scope)
        .ok_or_else(|| Error::new(ErrorKind::Unauthorized, "the access token is not valid"))
}

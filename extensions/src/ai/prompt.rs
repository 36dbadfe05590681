//! From a payload to the `messages` of a chat-completions request. A payload is a string (one user
//! message), a map with `prompt` (a string, the same) or `messages` (a list of `{role, content}` maps,
//! sent as they are), or an HTTP request payload (a map with `body`) whose body is one of those, so a
//! `listener` → `router` → `llm` chain needs nothing in between. The spec's `system` prompt goes first
//! unless the messages already start with a system message.

use serde_json::{json, Value as Json};
use weir_engine::Value;

/// Why a payload is not a prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("the payload must be a string, or a map with \"prompt\" or \"messages\"; got {0}")]
    Shape(&'static str),
    #[error("\"prompt\" must be a string; got {0}")]
    Prompt(&'static str),
    #[error("\"messages\" must be a non-empty list of maps with \"role\" and \"content\"; {0}")]
    Messages(String),
}

/// The messages for `payload`, with `system` first when given.
pub fn messages(payload: &Value, system: Option<&str>) -> Result<Vec<Json>, PromptError> {
    let mut out = Vec::new();
    let mut user = user_messages(payload, 0)?;
    let starts_with_system =
        user.first().and_then(|m| m.get("role")).and_then(Json::as_str) == Some("system");
    if let Some(system) = system.filter(|s| !s.is_empty() && !starts_with_system) {
        out.push(json!({"role": "system", "content": system}));
    }
    out.append(&mut user);
    Ok(out)
}

fn user_messages(payload: &Value, depth: u8) -> Result<Vec<Json>, PromptError> {
    match payload {
        Value::String(s) => Ok(vec![json!({"role": "user", "content": s.as_ref()})]),
        Value::Map(m) => {
            if let Some(list) = m.get("messages") {
                return listed(list);
            }
            if let Some(prompt) = m.get("prompt") {
                return match prompt {
                    Value::String(s) => Ok(vec![json!({"role": "user", "content": s.as_ref()})]),
                    other => Err(PromptError::Prompt(other.type_name())),
                };
            }
            match m.get("body") {
                // An HTTP request payload: the prompt is its body (once; a body's body is not looked at).
                Some(body) if depth == 0 => user_messages(body, depth + 1),
                _ => Err(PromptError::Shape("a map without them")),
            }
        }
        other => Err(PromptError::Shape(other.type_name())),
    }
}

fn listed(list: &Value) -> Result<Vec<Json>, PromptError> {
    let Some(items) = list.as_list() else {
        return Err(PromptError::Messages(format!("got {}", list.type_name())));
    };
    if items.is_empty() {
        return Err(PromptError::Messages("got an empty list".to_string()));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let ok = m.get("role").and_then(Value::as_str).is_some() && m.get("content").is_some();
            if ok {
                Ok(m.to_json())
            } else {
                Err(PromptError::Messages(format!(
                    "messages[{i}] is not a map with a string \"role\" and a \"content\""
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: Json) -> Value {
        Value::from(j)
    }

    #[test]
    fn a_string_a_prompt_and_an_http_body_are_one_user_message() {
        let want = vec![json!({"role": "user", "content": "hi"})];
        assert_eq!(messages(&v(json!("hi")), None), Ok(want.clone()));
        assert_eq!(messages(&v(json!({"prompt": "hi"})), None), Ok(want.clone()));
        assert_eq!(
            messages(&v(json!({"method": "POST", "body": {"prompt": "hi"}})), None),
            Ok(want)
        );
    }

    #[test]
    fn the_system_prompt_goes_first_unless_the_messages_have_one() {
        let sys = json!({"role": "system", "content": "be brief"});
        assert_eq!(
            messages(&v(json!("hi")), Some("be brief")),
            Ok(vec![sys.clone(), json!({"role": "user", "content": "hi"})])
        );
        let own =
            json!({"messages": [{"role": "system", "content": "own"}, {"role": "user", "content": "x"}]});
        assert_eq!(
            messages(&v(own), Some("be brief")),
            Ok(vec![
                json!({"role": "system", "content": "own"}),
                json!({"role": "user", "content": "x"})
            ])
        );
    }

    #[test]
    fn other_shapes_are_refused_with_what_was_given() {
        assert_eq!(messages(&v(json!(42)), None), Err(PromptError::Shape("integer")));
        assert_eq!(
            messages(&v(json!({"prompt": 1})), None),
            Err(PromptError::Prompt("integer"))
        );
        assert!(matches!(
            messages(&v(json!({"messages": [{"content": "x"}]})), None),
            Err(PromptError::Messages(m)) if m.contains("messages[0]")
        ));
        assert!(messages(&v(json!({"body": {"body": "x"}})), None).is_err());
    }
}

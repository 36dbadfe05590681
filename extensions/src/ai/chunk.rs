//! What the events of a streamed chat completion mean, in OpenAI's chunk format: a token
//! (`choices[0].delta.content`, a non-empty string), the finishing chunk, `[DONE]`, a chunk with no
//! text (the role, usage), an error event (`{"error": {"message": …}}`), or something malformed; and
//! the text of a completion a server answered whole (`choices[0].message.content`).

use serde_json::Value as Json;

use crate::sse;

/// What one event means.
#[derive(Debug, PartialEq)]
pub(crate) enum Token {
    Text(String),
    /// A chunk with a `finish_reason` and no text.
    Finished,
    /// `[DONE]`: the completion is over.
    Done,
    /// A chunk with no text (the role, usage).
    Nothing,
}

#[derive(Debug, PartialEq)]
pub(crate) enum TokenError {
    Server(String),
    Malformed(String),
}

pub(crate) fn token_of(event: &sse::Event) -> std::result::Result<Token, TokenError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(Token::Done);
    }
    let doc: Json =
        serde_json::from_str(data).map_err(|e| TokenError::Malformed(format!("not JSON ({e})")))?;
    if event.event.as_deref() == Some("error") || doc.get("error").is_some_and(|e| !e.is_null()) {
        let err = doc.get("error").unwrap_or(&doc);
        let message = err
            .get("message")
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| err.to_string());
        return Err(TokenError::Server(message));
    }
    let Some(choices) = doc.get("choices").and_then(Json::as_array) else {
        return Err(TokenError::Malformed("no \"choices\" list".to_string()));
    };
    // A usage-only chunk has no choices.
    let Some(choice) = choices.first() else {
        return Ok(Token::Nothing);
    };
    match choice.get("delta").and_then(|d| d.get("content")) {
        Some(Json::String(s)) if !s.is_empty() => return Ok(Token::Text(s.clone())),
        None | Some(Json::Null) | Some(Json::String(_)) => {}
        Some(other) => {
            return Err(TokenError::Malformed(format!(
                "choices[0].delta.content is {other}, not a string"
            )))
        }
    }
    if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
        Ok(Token::Finished)
    } else {
        Ok(Token::Nothing)
    }
}

/// The text of a non-streamed completion: `choices[0].message.content`.
pub(crate) fn whole_answer(text: &str) -> std::result::Result<String, String> {
    let doc: Json = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    doc.pointer("/choices/0/message/content")
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| "no choices[0].message.content string".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(data: &str) -> Result<Token, TokenError> {
        token_of(&sse::Event {
            event: None,
            data: data.to_string(),
        })
    }

    #[test]
    fn chunks_read_as_openai_sends_them() {
        let chunk = |delta: &str, finish: &str| {
            format!(r#"{{"choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]}}"#)
        };
        assert_eq!(
            of(&chunk(r#"{"content":"hi"}"#, "null")),
            Ok(Token::Text("hi".into()))
        );
        assert_eq!(
            of(&chunk(r#"{"role":"assistant","content":""}"#, "null")),
            Ok(Token::Nothing)
        );
        assert_eq!(of(&chunk(r#"{"content":null}"#, "null")), Ok(Token::Nothing));
        assert_eq!(of(&chunk("{}", r#""stop""#)), Ok(Token::Finished));
        assert_eq!(
            of(r#"{"choices":[],"usage":{"total_tokens":3}}"#),
            Ok(Token::Nothing)
        );
        assert_eq!(of(" [DONE] "), Ok(Token::Done));
    }

    #[test]
    fn errors_and_malformed_chunks_are_told_apart() {
        assert_eq!(
            of(r#"{"error":{"message":"rate limited"}}"#),
            Err(TokenError::Server("rate limited".into()))
        );
        assert!(matches!(of("nope"), Err(TokenError::Malformed(m)) if m.starts_with("not JSON")));
        assert!(matches!(of("{}"), Err(TokenError::Malformed(m)) if m.contains("choices")));
        assert!(matches!(
            of(r#"{"choices":[{"delta":{"content":5}}]}"#),
            Err(TokenError::Malformed(m)) if m.contains("not a string")
        ));
        assert_eq!(
            whole_answer(r#"{"choices":[{"message":{"role":"assistant","content":"all"}}]}"#),
            Ok("all".to_string())
        );
        assert!(whole_answer("{}").is_err());
    }
}

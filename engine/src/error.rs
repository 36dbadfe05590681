//! Errors that travel as packet replies: cheap to clone (fan-out copies them), classified by whose fault
//! they are, and never flattened (the source chain is kept as text at the point of conversion).

use std::fmt;
use std::sync::Arc;

/// Whose fault an error is, and so whether a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input was of the wrong type for the node (uniflow's "unsupported type").
    UnsupportedType,
    /// The input had the right type but a value the node cannot take (uniflow's "unsupported value").
    UnsupportedValue,
    /// A node's own logic failed (a script threw, a query failed).
    Node,
    /// A node panicked; the process failed, the host goes on.
    Panic,
    /// The process was cancelled.
    Cancelled,
    /// The consumer of a port went away (failed, unloaded) before answering.
    Closed,
    /// Nothing is loaded at the addressed node or port.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// A fault of weir itself.
    Internal,
    /// The addressed resource does not exist (an HTTP API answers 404).
    NotFound,
    /// The request conflicts with what exists, such as a name already used (409).
    Conflict,
    /// The caller gave no valid credentials (401).
    Unauthorized,
    /// The caller may not act on this resource or namespace (403).
    Forbidden,
}

impl ErrorKind {
    /// True when the same request may succeed if tried again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Closed | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }

    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnsupportedType => "unsupported type",
            ErrorKind::UnsupportedValue => "unsupported value",
            ErrorKind::Node => "node error",
            ErrorKind::Panic => "panic",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Closed => "closed",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Repr {
    kind: ErrorKind,
    message: String,
}

/// An error carried by a reply or an error packet. Clones share one allocation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.message)]
pub struct Error(Arc<Repr>);

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Arc::new(Repr {
            kind,
            message: message.into(),
        }))
    }

    /// A node's own failure.
    pub fn node(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Node, message)
    }

    /// Keeps the whole source chain of a foreign error in the message.
    pub fn from_source(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self::new(kind, message)
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The same error with context in front: `context: message`.
    pub fn context(&self, context: impl fmt::Display) -> Self {
        Self::new(self.kind(), format!("{context}: {}", self.message()))
    }
}

/// The result type of node handlers.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        let err = Error::from_source(ErrorKind::Node, &e);
        assert_eq!(err.message(), "outer: inner");
        assert_eq!(err.kind(), ErrorKind::Node);
    }

    #[test]
    fn context_prefixes_and_keeps_kind() {
        let err = Error::new(ErrorKind::Timeout, "took too long").context("node \"a\"");
        assert_eq!(err.to_string(), "node \"a\": took too long");
        assert!(err.kind().is_retryable());
    }
}

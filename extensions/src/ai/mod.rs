//! The `ai` family of node kinds:
//! - `llm` (`llm.rs`): an OpenAI-compatible chat-completions client that streams, one packet per
//!   token, reading the server's SSE (`crate::sse`), interpreting its chunks (`chunk.rs`) and taking its
//!   prompt from the payload (`prompt.rs`);
//! - `token_server.rs`: a small OpenAI-compatible server with scripted tokens, for tests and benches.

use weir_codecs::codec::Scheme;

mod chunk;
pub mod llm;
pub mod prompt;
pub mod token_server;

pub use llm::{Llm, LlmFields, LlmKind};

/// Whether this build can reach `https` URLs (the `tls` feature).
pub(crate) const TLS: bool = cfg!(feature = "tls");

/// Registers the `ai` kinds.
pub fn register(scheme: &mut Scheme) {
    scheme.register(LlmKind);
}

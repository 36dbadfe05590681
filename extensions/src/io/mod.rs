//! The `io` family of node kinds.

use weir_codecs::codec::Scheme;

/// Registers the `io` kinds.
pub fn register(_scheme: &mut Scheme) {}

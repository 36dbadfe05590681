//! The `net` family of node kinds.

use weir_codecs::codec::Scheme;

/// Registers the `net` kinds.
pub fn register(_scheme: &mut Scheme) {}

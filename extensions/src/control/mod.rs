//! The `control` family of node kinds.

use weir_codecs::codec::Scheme;

/// Registers the `control` kinds.
pub fn register(_scheme: &mut Scheme) {}

//! weir-extensions: the node kinds, one module per family (`control`, `net`, `io`). Each family has a
//! plain `register(&mut Scheme)`; [`register`] adds them all. See ARCHITECTURE.md.

use weir_codecs::codec::Scheme;

pub mod ai;
pub mod control;
pub mod io;
pub mod net;

/// Registers every built-in kind.
pub fn register(scheme: &mut Scheme) {
    ai::register(scheme);
    control::register(scheme);
    io::register(scheme);
    net::register(scheme);
}

/// A scheme with every built-in kind.
pub fn scheme() -> Scheme {
    let mut s = Scheme::new();
    register(&mut s);
    s
}

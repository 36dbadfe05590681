//! weir-extensions: see ARCHITECTURE.md.

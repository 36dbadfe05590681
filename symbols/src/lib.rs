//! weir-symbols: see ARCHITECTURE.md.

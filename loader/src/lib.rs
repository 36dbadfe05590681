//! weir-loader: see ARCHITECTURE.md.

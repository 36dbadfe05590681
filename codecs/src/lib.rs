//! weir-codecs: the scheme. Resources in uniflow's format (`resource`), Go-template rendering of spec
//! fields (`template`), lenient coercion of field values (`coerce`), what nodes outside `system` may not touch
//! (`guard`), the checks a write runs (`check`), charts as kinds of their namespace (`chart`). See ARCHITECTURE.md.

pub mod chart;
pub mod check;
pub mod codec;
pub mod coerce;
pub mod guard;
pub mod resource;
pub mod template;

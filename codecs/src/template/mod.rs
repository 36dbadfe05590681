//! Go `text/template` rendering, as uniflow uses it to render a spec's string fields against its
//! env (a missing key prints `<no value>`, `{{"{{"}}` writes a literal `{{`).
//!
//! [`Renderer`] is the seam the codecs use; [`GoTemplate`] is weir's own implementation (a lexer,
//! parser and evaluator written to Go's rules, since the only crate, gtmpl, is unmaintained).
//! Supported: text and actions, trim markers `{{-`/`-}}`, comments, fields `.A.B`, `.`, `$`,
//! variables (`$x :=`, `$x =`), string (`"…"`, `` `…` ``), character, number, `true`/`false`/`nil`
//! literals, pipelines, parenthesised pipelines, `if`/`else if`/`else`, `range` (lists in order,
//! maps in key order, integers) with `else`, `break` and `continue`, `with`/`else with`, and Go's
//! predefined functions except `call` (`define`, `template` and `block` are refused: a spec
//! field is a single template). Values print as Go prints `any`: `8000`, `1e+21`, `map[a:1 b:2]`,
//! `[1 2 3]`, `<nil>`; integers in the env print as Go's `int` (yaml.v3 decodes them so), other
//! numbers as `float64`.

mod ast;
mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
mod strconv;

#[cfg(test)]
mod golden_tests;

use std::fmt;

use serde_json::{Map, Value};

/// Renders a template string against an environment.
pub trait Renderer: Send + Sync {
    /// Renders `template` with `env` as its data (`.` and `$`).
    fn render(&self, template: &str, env: &Value) -> Result<String, TemplateError>;
}

/// weir's implementation of Go's `text/template`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoTemplate;

impl Renderer for GoTemplate {
    fn render(&self, template: &str, env: &Value) -> Result<String, TemplateError> {
        Template::parse(template)?.execute(env)
    }
}

/// Whether `s` holds an action and so needs rendering (uniflow renders every string; one without
/// `{{` renders to itself).
pub fn needs_render(s: &str) -> bool {
    s.contains("{{")
}

/// A parsed template, to render many times.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    nodes: Vec<ast::Node>,
}

impl Template {
    /// Parses `source`, reporting the first syntax error with its position.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let syntax = |e: SyntaxError| TemplateError::Syntax {
            pos: position(source, e.pos),
            message: e.message,
        };
        let toks = lex::lex(source).map_err(syntax)?;
        let nodes = parse::parse(toks, source.len()).map_err(syntax)?;
        Ok(Self {
            source: source.to_string(),
            nodes,
        })
    }

    /// The text this template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template with `env` as its data.
    pub fn execute(&self, env: &Value) -> Result<String, TemplateError> {
        exec::execute(&self.source, &self.nodes, env)
    }
}

/// A line and column (both from 1; the column counts characters) in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The position of byte `offset` in `src`.
pub(crate) fn position(src: &str, offset: usize) -> Position {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        col: before[line_start..].chars().count() + 1,
    }
}

/// Why a template could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is malformed.
    #[error("template syntax error at {pos}: {message}")]
    Syntax { pos: Position, message: String },
    /// Rendering failed at an action; `context` is the operand or pipeline, as written.
    #[error("template error at {pos} in <{context}>: {message}")]
    Exec {
        pos: Position,
        context: String,
        message: String,
    },
    /// Rendering exceeded a size or step limit.
    #[error("template error: {0}")]
    Limit(String),
}

impl TemplateError {
    /// Where in the template the error is, if it is at one place.
    pub fn position(&self) -> Option<Position> {
        match self {
            TemplateError::Syntax { pos, .. } | TemplateError::Exec { pos, .. } => Some(*pos),
            TemplateError::Limit(_) => None,
        }
    }
}

/// A syntax error at a byte offset, before it is turned into a line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub pos: usize,
    pub message: String,
}

/// A template in a field of a JSON tree failed; `field` is its path (`routes[0].path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {source}")]
pub struct FieldRenderError {
    pub field: String,
    #[source]
    pub source: TemplateError,
}

/// Renders every string in `value` that [`needs_render`] (map keys too, as uniflow does) against
/// `env`, leaving everything else as it is. Rendered strings stay strings: decoding `'8000'` into
/// a number is the codec's business (see [`crate::coerce`]).
pub fn render_value(renderer: &dyn Renderer, value: &Value, env: &Value) -> Result<Value, FieldRenderError> {
    render_at(renderer, value, env, &mut String::new())
}

fn render_at(
    renderer: &dyn Renderer,
    value: &Value,
    env: &Value,
    path: &mut String,
) -> Result<Value, FieldRenderError> {
    let fail = |path: &str, source| FieldRenderError {
        field: path.to_string(),
        source,
    };
    match value {
        Value::String(s) if needs_render(s) => renderer
            .render(s, env)
            .map(Value::String)
            .map_err(|e| fail(path, e)),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(render_at(renderer, item, env, path)?);
                path.truncate(len);
            }
            Ok(Value::Array(out))
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let len = path.len();
                push_key(path, k);
                let key = if needs_render(k) {
                    renderer.render(k, env).map_err(|e| fail(path, e))?
                } else {
                    k.clone()
                };
                out.insert(key, render_at(renderer, v, env, path)?);
                path.truncate(len);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// Appends `.key`, or `['key']` when the key is not a plain name.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("['{key}']"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn text_without_actions_renders_to_itself(s in "[^{]{0,64}") {
            prop_assert_eq!(GoTemplate.render(&s, &json!({})).unwrap(), s);
        }

        #[test]
        fn any_input_renders_or_errors_without_panicking(s in "\\PC{0,48}") {
            let _ = GoTemplate.render(&s, &json!({"a": [1, {"b": null}], "s": "x"}));
        }

        #[test]
        fn action_soup_renders_or_errors_without_panicking(
            s in "(\\{\\{-? |\\{\\{|[ .$abs|()\"`'0-9,:=\\[\\]-]|if |else |end|range |with |break|len |index |printf |and | -?\\}\\}){0,24}"
        ) {
            let _ = GoTemplate.render(&s, &json!({"a": [1, {"b": null}], "s": "x"}));
        }
    }

    #[test]
    fn needs_render_looks_for_an_action() {
        assert!(needs_render("{{ .PORT }}"));
        assert!(!needs_render("8000"));
        assert!(!needs_render("{ x }"));
    }

    #[test]
    fn positions_are_line_and_column() {
        let e = GoTemplate
            .render("line one\n  {{ nope }}", &json!({}))
            .unwrap_err();
        assert_eq!(e.position(), Some(Position { line: 2, col: 6 }));
        assert_eq!(
            e.to_string(),
            "template syntax error at 2:6: function \"nope\" not defined"
        );
        let e = GoTemplate
            .render("{{ .a.b }}", &json!({"a": "text"}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "template error at 1:4 in <.a.b>: can't evaluate field b in type string"
        );
    }

    #[test]
    fn render_value_renders_strings_and_keys_and_names_the_field() {
        let env = json!({"PORT": 8000, "HOST": "h"});
        let v = json!({"port": "{{ .PORT }}", "n": 3, "routes": [{"path": "/{{.HOST}}"}], "{{.HOST}}": true});
        let out = render_value(&GoTemplate, &v, &env).unwrap();
        assert_eq!(
            out,
            json!({"port": "8000", "n": 3, "routes": [{"path": "/h"}], "h": true})
        );
        let bad = json!({"routes": [{"path": "{{ .HOST.x }}"}]});
        let e = render_value(&GoTemplate, &bad, &env).unwrap_err();
        assert_eq!(e.field, "routes[0].path");
        let bad = json!({"ports": {"out[0]": "{{"}});
        assert_eq!(
            render_value(&GoTemplate, &bad, &env).unwrap_err().field,
            "ports['out[0]']"
        );
    }

    #[test]
    fn a_parsed_template_renders_many_times() {
        let t = Template::parse("{{.a}}").unwrap();
        assert_eq!(t.execute(&json!({"a": 1})).unwrap(), "1");
        assert_eq!(t.execute(&json!({"a": "x"})).unwrap(), "x");
        assert_eq!(t.source(), "{{.a}}");
    }

    #[test]
    fn limits_stop_runaway_templates() {
        let e = GoTemplate
            .render("{{range 100000000}}{{end}}", &json!({}))
            .unwrap_err();
        assert!(matches!(e, TemplateError::Limit(_)), "{e}");
        let e = GoTemplate
            .render("{{range 10000000}}xxxxxxxxxx{{end}}", &json!({}))
            .unwrap_err();
        assert!(matches!(e, TemplateError::Limit(_)), "{e}");
    }
}

//! Query parameters for the `sql` kind: `?` (positional), `$1` (numbered) and `:name` (named), found
//! outside string literals, quoted identifiers, comments and PostgreSQL dollar-quoted strings, and
//! rewritten to each database's own numbered form (`?1` for SQLite, `$1` for PostgreSQL). `??` is a
//! literal `?` (PostgreSQL's JSON operators), `::` a PostgreSQL cast. One query uses one style.

use weir_engine::{Error, ErrorKind, Map, Result, Value};

/// How a query names its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Style {
    /// No parameters.
    None,
    /// `?`, bound from a list in order; the count of them.
    Positional(usize),
    /// `$1`, `$2`…, bound from a list by number; the highest number.
    Numbered(usize),
    /// `:name`, bound from a map; the names in order of first appearance (slot `i + 1`).
    Named(Vec<String>),
}

impl Style {
    /// The number of slots the rewritten query binds.
    pub fn slots(&self) -> usize {
        match self {
            Style::None => 0,
            Style::Positional(n) | Style::Numbered(n) => *n,
            Style::Named(names) => names.len(),
        }
    }
}

/// A query with its parameters found and numbered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The query with parameters written `?N` (SQLite).
    pub sqlite: String,
    /// The query with parameters written `$N` (PostgreSQL).
    pub postgres: String,
    pub style: Style,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::UnsupportedValue, format!("sql: {}", msg.into()))
}

/// Finds and numbers the parameters of `sql`.
pub fn parse(sql: &str) -> Result<Query> {
    let chars: Vec<char> = sql.chars().collect();
    let mut sqlite = String::with_capacity(sql.len());
    let mut postgres = String::with_capacity(sql.len());
    let mut style = Style::None;
    let mut i = 0;
    let push = |s: &str, sqlite: &mut String, postgres: &mut String| {
        sqlite.push_str(s);
        postgres.push_str(s);
    };
    let mix = |a: &Style, b: &str| {
        invalid(format!(
            "the query mixes parameter styles ({} and {b}); use one of ?, $1 or :name",
            match a {
                Style::Positional(_) => "?",
                Style::Numbered(_) => "$1",
                _ => ":name",
            }
        ))
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        // Literals, identifiers and comments are copied as they are.
        let end = match c {
            '\'' | '"' | '`' => Some(closing(&chars, i + 1, c)),
            '-' if next == Some('-') => Some(find(&chars, i, "\n").map_or(chars.len(), |e| e + 1)),
            '/' if next == Some('*') => Some(find(&chars, i + 2, "*/").map_or(chars.len(), |e| e + 2)),
            '$' if next.is_some_and(|n| n == '$' || n.is_alphabetic() || n == '_') => dollar_quote(&chars, i),
            _ => None,
        };
        if let Some(end) = end {
            let text: String = chars[i..end].iter().collect();
            push(&text, &mut sqlite, &mut postgres);
            i = end;
            continue;
        }
        match c {
            '?' if next == Some('?') => {
                push("?", &mut sqlite, &mut postgres);
                i += 2;
            }
            '?' => {
                let n = match &style {
                    Style::None => 1,
                    Style::Positional(n) => n + 1,
                    other => return Err(mix(other, "?")),
                };
                style = Style::Positional(n);
                sqlite.push_str(&format!("?{n}"));
                postgres.push_str(&format!("${n}"));
                i += 1;
            }
            '$' if next.is_some_and(|n| n.is_ascii_digit()) => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let digits: String = chars[start..j].iter().collect();
                let n: usize = digits.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    invalid(format!("${digits} is not a parameter number (they start at $1)"))
                })?;
                style = match &style {
                    Style::None => Style::Numbered(n),
                    Style::Numbered(m) => Style::Numbered(n.max(*m)),
                    other => return Err(mix(other, "$1")),
                };
                sqlite.push_str(&format!("?{n}"));
                postgres.push_str(&format!("${n}"));
                i = j;
            }
            ':' if next == Some(':') => {
                push("::", &mut sqlite, &mut postgres);
                i += 2;
            }
            ':' if next.is_some_and(|n| n.is_alphabetic() || n == '_') => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                let mut names = match std::mem::replace(&mut style, Style::None) {
                    Style::None => Vec::new(),
                    Style::Named(names) => names,
                    other => return Err(mix(&other, ":name")),
                };
                let n = match names.iter().position(|x| *x == name) {
                    Some(p) => p + 1,
                    None => {
                        names.push(name);
                        names.len()
                    }
                };
                style = Style::Named(names);
                sqlite.push_str(&format!("?{n}"));
                postgres.push_str(&format!("${n}"));
                i = j;
            }
            _ => {
                sqlite.push(c);
                postgres.push(c);
                i += 1;
            }
        }
    }
    Ok(Query {
        sqlite,
        postgres,
        style,
    })
}

/// The index after the quote closing a literal opened before `from` (a doubled quote is an escaped one).
fn closing(chars: &[char], from: usize, quote: char) -> usize {
    let mut i = from;
    while i < chars.len() {
        if chars[i] == quote {
            if chars.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

fn find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&i| chars[i..].starts_with(&needle))
}

/// The end of a PostgreSQL dollar-quoted string starting at `start` (`$$...$$`, `$tag$...$tag$`), or
/// `None` when what starts there is no dollar quote.
fn dollar_quote(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if chars.get(j) != Some(&'$') {
        return None;
    }
    let tag: String = chars[start..=j].iter().collect();
    Some(find(chars, j + 1, &tag).map_or(chars.len(), |e| e + tag.chars().count()))
}

/// The values for the slots of `query`, from the payload's arguments (`None`: none were given).
pub fn bind(query: &Query, args: Option<&Value>) -> Result<Vec<Value>> {
    match (&query.style, args) {
        (Style::None, None) => Ok(Vec::new()),
        (Style::None, Some(Value::List(l))) if l.is_empty() => Ok(Vec::new()),
        (Style::None, Some(Value::Map(m))) if m.is_empty() => Ok(Vec::new()),
        (Style::None, Some(a)) => Err(invalid(format!(
            "the query has no parameters but a {} of arguments was given",
            a.type_name()
        ))),
        (style, None) => Err(invalid(format!(
            "the query has {} parameter(s) but no arguments were given",
            style.slots()
        ))),
        (Style::Positional(n) | Style::Numbered(n), Some(Value::List(l))) => {
            if l.len() != *n {
                let what = if matches!(query.style, Style::Positional(_)) {
                    "?"
                } else {
                    "$N"
                };
                return Err(invalid(format!(
                    "the query has {n} {what} parameter(s) but {} argument(s) were given",
                    l.len()
                )));
            }
            Ok(l.to_vec())
        }
        (Style::Named(names), Some(Value::Map(m))) => named(names, m),
        (Style::Positional(_) | Style::Numbered(_), Some(a)) => Err(invalid(format!(
            "the query's parameters are positional; give a list of arguments, not a {}",
            a.type_name()
        ))),
        (Style::Named(_), Some(a)) => Err(invalid(format!(
            "the query's parameters are named; give a map of arguments, not a {}",
            a.type_name()
        ))),
    }
}

fn named(names: &[String], args: &Map) -> Result<Vec<Value>> {
    names
        .iter()
        .map(|n| {
            args.get(n)
                .cloned()
                .ok_or_else(|| invalid(format!("no argument for the parameter :{n}")))
        })
        .collect()
}

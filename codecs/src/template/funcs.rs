//! The functions Go predefines for templates: `print`, `printf`, `println`, `len`, `index`,
//! `slice`, `not`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `html`, `js`, `urlquery` (`and` and `or`
//! short-circuit, so the evaluator handles them). Arguments arrive with missing values and nulls
//! already as [`NIL`]; results and errors are Go's.

use serde_json::Value;

use super::gofmt::{self, num, type_name, Num, NIL};
use super::strconv::quote;

/// Whether `name` is a function templates may call (`call` is not: data holds no functions).
pub(crate) fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "and"
            | "or"
            | "not"
            | "len"
            | "index"
            | "slice"
            | "print"
            | "printf"
            | "println"
            | "eq"
            | "ne"
            | "lt"
            | "le"
            | "gt"
            | "ge"
            | "html"
            | "js"
            | "urlquery"
    )
}

/// Go's truth: false, 0, nil, and empty strings, lists and maps are false.
pub(crate) fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => match num(n) {
            Num::Int(i) => i != 0,
            Num::Uint(u) => u != 0,
            Num::Float(f) => f != 0.0,
        },
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Calls builtin `name`. An `Err` holds Go's message, which the caller wraps as
/// `error calling NAME: …` (or reports as is, for a wrong argument count).
pub(crate) fn call(name: &str, args: &[&Value]) -> Result<Value, CallError> {
    let arity = |want: usize| {
        if args.len() == want {
            Ok(())
        } else {
            Err(CallError::Arity(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )))
        }
    };
    let at_least = |want: usize| {
        if args.len() >= want {
            Ok(())
        } else {
            Err(CallError::Arity(format!(
                "wrong number of args for {name}: want at least {want} got {}",
                args.len()
            )))
        }
    };
    let fail = |m: String| CallError::Failed(m);
    match name {
        "print" => Ok(Value::String(gofmt::sprint(args))),
        "println" => Ok(Value::String(gofmt::sprintln(args))),
        "printf" => {
            at_least(1)?;
            let Value::String(format) = args[0] else {
                return Err(CallError::Arity(format!(
                    "wrong type for value; expected string; got {}",
                    type_name(args[0])
                )));
            };
            Ok(Value::String(gofmt::sprintf(format, &args[1..])))
        }
        "not" => {
            arity(1)?;
            Ok(Value::Bool(!truth(args[0])))
        }
        "len" => {
            arity(1)?;
            let n = match args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => return Err(fail("len of nil pointer".into())),
                other => return Err(fail(format!("len of type {}", type_name(other)))),
            };
            Ok(Value::from(n))
        }
        "index" => {
            at_least(1)?;
            index(args[0], &args[1..]).map_err(fail)
        }
        "slice" => {
            at_least(1)?;
            slice(args[0], &args[1..]).map_err(fail)
        }
        "eq" => {
            at_least(1)?;
            eq(args[0], &args[1..]).map(Value::Bool).map_err(fail)
        }
        "ne" => {
            arity(2)?;
            eq(args[0], &args[1..]).map(|b| Value::Bool(!b)).map_err(fail)
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(2)?;
            let (a, b) = (args[0], args[1]);
            let r = match name {
                "lt" => lt(a, b),
                "le" => le(a, b),
                "gt" => le(a, b).map(|x| !x),
                _ => lt(a, b).map(|x| !x),
            };
            r.map(Value::Bool).map_err(fail)
        }
        "html" => Ok(Value::String(html_escape(&eval_args(args)))),
        "js" => Ok(Value::String(js_escape(&eval_args(args)))),
        "urlquery" => Ok(Value::String(query_escape(&eval_args(args)))),
        _ => Err(fail(format!("function {name:?} not defined"))),
    }
}

/// Why a builtin call failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// The call itself is malformed (argument count or type); reported as is.
    Arity(String),
    /// The function ran and failed; reported as `error calling NAME: …`.
    Failed(String),
}

/// The text that `html`, `js` and `urlquery` escape: a lone string as is, else `fmt.Sprint`.
fn eval_args(args: &[&Value]) -> String {
    match args {
        [Value::String(s)] => s.clone(),
        _ => gofmt::sprint(args),
    }
}

/// Comparison classes of Go's `basicKind`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    Nil,
    Other,
}

fn basic(v: &Value) -> Basic<'_> {
    match v {
        Value::Null => Basic::Nil,
        Value::Bool(b) => Basic::Bool(*b),
        Value::Number(n) => match num(n) {
            Num::Int(i) => Basic::Int(i),
            Num::Uint(u) => Basic::Uint(u),
            Num::Float(f) => Basic::Float(f),
        },
        Value::String(s) => Basic::Str(s),
        Value::Array(_) | Value::Object(_) => Basic::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's `eq arg1 arg2...`: true if `arg1` equals any of the others.
fn eq(a: &Value, others: &[&Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let ka = basic(a);
    for b in others {
        let kb = basic(b);
        let truth = match (ka, kb) {
            (Basic::Int(x), Basic::Uint(y)) | (Basic::Uint(y), Basic::Int(x)) => u64::try_from(x) == Ok(y),
            (Basic::Bool(x), Basic::Bool(y)) => x == y,
            (Basic::Int(x), Basic::Int(y)) => x == y,
            (Basic::Uint(x), Basic::Uint(y)) => x == y,
            (Basic::Float(x), Basic::Float(y)) => x == y,
            (Basic::Str(x), Basic::Str(y)) => x == y,
            (Basic::Nil, Basic::Nil) => true,
            (Basic::Other, Basic::Other) => {
                return Err(format!(
                    "non-comparable types {}: {}",
                    gofmt::sprint_one(a),
                    type_name(a)
                ));
            }
            (Basic::Nil, _) | (_, Basic::Nil) => false,
            _ => return Err(BAD_COMPARISON.into()),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (basic(a), basic(b));
    for k in [ka, kb] {
        if matches!(k, Basic::Nil | Basic::Other | Basic::Bool(_)) {
            return Err(BAD_COMPARISON_TYPE.into());
        }
    }
    Ok(match (ka, kb) {
        (Basic::Int(x), Basic::Uint(y)) => x < 0 || x.unsigned_abs() < y,
        (Basic::Uint(x), Basic::Int(y)) => y >= 0 && x < y.unsigned_abs(),
        (Basic::Int(x), Basic::Int(y)) => x < y,
        (Basic::Uint(x), Basic::Uint(y)) => x < y,
        (Basic::Float(x), Basic::Float(y)) => x < y,
        (Basic::Str(x), Basic::Str(y)) => x < y,
        _ => return Err(BAD_COMPARISON.into()),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, &[b])
}

/// An index into a list or string of length `len`.
fn index_arg(i: &Value, len: usize, what: &str) -> Result<usize, String> {
    let x: i128 = match i {
        Value::Number(n) => match num(n) {
            Num::Int(x) => i128::from(x),
            Num::Uint(x) => i128::from(x),
            Num::Float(_) => return Err(format!("cannot index {what} with type float64")),
        },
        Value::Null => return Err(format!("cannot index {what} with nil")),
        other => return Err(format!("cannot index {what} with type {}", type_name(other))),
    };
    usize::try_from(x)
        .ok()
        .filter(|&x| x <= len)
        .ok_or_else(|| format!("index out of range: {x}"))
}

/// Go's `index item i j...`: `item[i][j]…`; a missing map key gives nil.
fn index(item: &Value, indexes: &[&Value]) -> Result<Value, String> {
    if item.is_null() {
        return Err("index of untyped nil".into());
    }
    let mut cur = item.clone();
    for i in indexes {
        cur = match cur {
            Value::Null => return Err("index of nil pointer".into()),
            Value::Array(mut a) => {
                let x = index_arg(i, a.len(), "slice/array")?;
                if x >= a.len() {
                    return Err(format!("index out of range: {x}"));
                }
                a.swap_remove(x)
            }
            Value::String(s) => {
                let x = index_arg(i, s.len(), "slice/array")?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::from(*b),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Object(mut m) => match i {
                Value::String(k) => m.swap_remove(k.as_str()).unwrap_or(Value::Null),
                Value::Null => return Err("value is nil; should be of type string".into()),
                other => return Err(format!("value has type {}; should be string", type_name(other))),
            },
            other => return Err(format!("can't index item of type {}", type_name(&other))),
        };
    }
    Ok(cur)
}

/// Go's `slice item i j k`: `item[i:j:k]`.
fn slice(item: &Value, indexes: &[&Value]) -> Result<Value, String> {
    if item.is_null() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Array(a) => a.len(),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    let mut idx = [0, len, len];
    for (k, i) in indexes.iter().enumerate() {
        idx[k] = index_arg(i, len, "slice/array")?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    match item {
        Value::String(s) => s
            .get(idx[0]..idx[1])
            .map(|t| Value::String(t.to_string()))
            .ok_or_else(|| "slice of a string must fall on character boundaries".to_string()),
        Value::Array(a) => Ok(Value::Array(a[idx[0]..idx[1]].to_vec())),
        _ => Ok(NIL.clone()),
    }
}

/// Go's `template.HTMLEscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x80 => out.push(c),
            c => {
                // Go keeps printable runes and escapes the rest.
                let q = quote(&c.to_string());
                if q.len() == c.len_utf8() + 2 {
                    out.push(c);
                } else {
                    out.push_str(&format!("\\u{:04X}", c as u32));
                }
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call_v(name: &str, args: &[Value]) -> Result<Value, CallError> {
        call(name, &args.iter().collect::<Vec<_>>())
    }

    #[test]
    fn comparisons_follow_go_kinds() {
        assert_eq!(call_v("eq", &[json!(1), json!(2), json!(1)]), Ok(json!(true)));
        assert_eq!(call_v("eq", &[json!("a"), json!("a")]), Ok(json!(true)));
        assert_eq!(call_v("eq", &[Value::Null, json!("a")]), Ok(json!(false)));
        assert_eq!(call_v("eq", &[Value::Null, Value::Null]), Ok(json!(true)));
        assert_eq!(
            call_v("eq", &[json!(1), json!(1.0)]),
            Err(CallError::Failed(BAD_COMPARISON.into()))
        );
        assert_eq!(
            call_v("eq", &[json!("1"), json!(1)]),
            Err(CallError::Failed(BAD_COMPARISON.into()))
        );
        assert_eq!(call_v("lt", &[json!(1), json!(2)]), Ok(json!(true)));
        assert_eq!(call_v("ge", &[json!("b"), json!("a")]), Ok(json!(true)));
        assert_eq!(call_v("le", &[json!(2), json!(2)]), Ok(json!(true)));
        assert_eq!(
            call_v("gt", &[json!(true), json!(false)]),
            Err(CallError::Failed(BAD_COMPARISON_TYPE.into()))
        );
        assert_eq!(call_v("lt", &[json!(-1), json!(u64::MAX)]), Ok(json!(true)));
        assert!(matches!(call_v("ne", &[json!(1)]), Err(CallError::Arity(_))));
    }

    #[test]
    fn index_and_slice() {
        let v = json!({"a": [10, {"b": "x"}]});
        assert_eq!(
            call_v("index", &[v.clone(), json!("a"), json!(1), json!("b")]),
            Ok(json!("x"))
        );
        assert_eq!(call_v("index", &[v.clone(), json!("zz")]), Ok(Value::Null));
        assert_eq!(
            call_v("index", &[json!([1]), json!(1)]),
            Err(CallError::Failed("index out of range: 1".into()))
        );
        assert_eq!(
            call_v("index", &[Value::Null, json!(0)]),
            Err(CallError::Failed("index of untyped nil".into()))
        );
        assert_eq!(call_v("index", &[json!("AB"), json!(1)]), Ok(json!(66)));
        assert_eq!(
            call_v("slice", &[json!("hello"), json!(1), json!(3)]),
            Ok(json!("el"))
        );
        assert_eq!(call_v("slice", &[json!([1, 2, 3]), json!(1)]), Ok(json!([2, 3])));
        assert_eq!(call_v("len", &[json!({"a": 1})]), Ok(json!(1)));
        assert!(call_v("len", &[json!(3)]).is_err());
    }

    #[test]
    fn escapers() {
        assert_eq!(
            call_v("html", &[json!("<a href=\"x\">&'")]),
            Ok(json!("&lt;a href=&#34;x&#34;&gt;&amp;&#39;"))
        );
        assert_eq!(
            call_v("js", &[json!("a'b\"<=\n")]),
            Ok(json!("a\\'b\\\"\\u003C\\u003D\\u000A"))
        );
        assert_eq!(
            call_v("urlquery", &[json!("a b&c=d/é")]),
            Ok(json!("a+b%26c%3Dd%2F%C3%A9"))
        );
        assert_eq!(call_v("urlquery", &[json!(1), json!(2)]), Ok(json!("1+2")));
    }
}

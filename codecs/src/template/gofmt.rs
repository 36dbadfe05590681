//! Go's `fmt` rules for the values a template sees (JSON values, as Go sees `map[string]any`
//! data): `%v` printing (`map[a:1 b:2]`, `[1 2 3]`, `<nil>`, floats as `%g` with Go's shortest
//! digits), `print`/`println` spacing, the `printf` verbs and their `%!verb(type=value)` errors,
//! and `strconv.Quote`.

use serde_json::{Map, Number, Value};

use super::strconv::{format_e, format_g, quote, quote_rune};

/// Go's untyped nil, for arguments that are missing or null.
pub(crate) static NIL: Value = Value::Null;

/// A JSON number as Go would hold it: `int` (as yaml.v3 decodes integers), `uint64` past
/// `i64::MAX`, `float64` otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Uint(u64),
    Float(f64),
}

pub(crate) fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i)
    } else if let Some(u) = n.as_u64() {
        Num::Uint(u)
    } else {
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// The Go type name `reflect.TypeOf` gives a value decoded into `any`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) => match num(n) {
            Num::Int(_) => "int",
            Num::Uint(_) => "uint64",
            Num::Float(_) => "float64",
        },
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `fmt.Sprint(v)`.
pub(crate) fn sprint_one(v: &Value) -> String {
    let mut p = Printer::default();
    p.print_arg(v, 'v');
    p.buf
}

/// `fmt.Sprint(args...)`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[&Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprintln(args...)`: spaces between all operands and a trailing newline.
pub(crate) fn sprintln(args: &[&Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// `fmt.Sprintf(format, args...)`.
pub(crate) fn sprintf(format: &str, args: &[&Value]) -> String {
    let mut p = Printer::default();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        p.buf.push_str(&rest[..at]);
        let mut chars = rest[at + 1..].char_indices().peekable();
        p.f = Flags::default();
        // Flags.
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '#' => p.f.sharp = true,
                '0' => p.f.zero = true,
                '+' => p.f.plus = true,
                '-' => p.f.minus = true,
                ' ' => p.f.space = true,
                _ => break,
            }
            chars.next();
        }
        let mut bad_index = false;
        let mut arg_index =
            |chars: &mut Chars<'_>, arg_num: &mut usize| match parse_arg_index(chars, args.len()) {
                None => {}
                Some(Some(n)) => {
                    reordered = true;
                    *arg_num = n;
                }
                Some(None) => {
                    reordered = true;
                    bad_index = true;
                }
            };
        arg_index(&mut chars, &mut arg_num);
        // Width.
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            p.f.wid = take_int_arg(args, &mut arg_num);
            if p.f.wid.is_none() {
                p.buf.push_str("%!(BADWIDTH)");
            }
        } else {
            p.f.wid = take_digits(&mut chars);
        }
        // Precision.
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            arg_index(&mut chars, &mut arg_num);
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                p.f.prec = take_int_arg(args, &mut arg_num);
                if p.f.prec.is_none() {
                    p.buf.push_str("%!(BADPREC)");
                }
            } else {
                p.f.prec = Some(take_digits(&mut chars).unwrap_or(0));
            }
        }
        arg_index(&mut chars, &mut arg_num);
        let Some((i, verb)) = chars.next() else {
            p.buf.push_str("%!(NOVERB)");
            rest = "";
            break;
        };
        rest = &rest[at + 1 + i + verb.len_utf8()..];
        if verb == '%' {
            p.buf.push('%');
            continue;
        }
        if bad_index {
            p.buf.push_str(&format!("%!{verb}(BADINDEX)"));
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            p.buf.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        arg_num += 1;
        if verb == 'v' && p.f.sharp {
            p.f.sharp = false;
            p.f.sharp_v = true;
        }
        p.print_arg(arg, verb);
    }
    p.buf.push_str(rest);
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (i, a) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                p.buf.push_str(", ");
            }
            if a.is_null() {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(type_name(a));
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// An explicit argument index `[n]`: `None` if there is none, `Some(None)` if it is bad, else the
/// index from 0.
fn parse_arg_index(chars: &mut Chars<'_>, nargs: usize) -> Option<Option<usize>> {
    if chars.peek().map(|&(_, c)| c) != Some('[') {
        return None;
    }
    chars.next();
    let n = take_digits(chars);
    if chars.peek().map(|&(_, c)| c) != Some(']') {
        return Some(None);
    }
    chars.next();
    Some(n.filter(|&n| n >= 1 && n <= nargs).map(|n| n - 1))
}

fn take_digits(chars: &mut Chars<'_>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|&(_, c)| c.to_digit(10)) {
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(1_000_000),
        );
        chars.next();
    }
    n
}

fn take_int_arg(args: &[&Value], arg_num: &mut usize) -> Option<usize> {
    let v = args.get(*arg_num)?;
    *arg_num += 1;
    match v {
        Value::Number(n) => match num(n) {
            Num::Int(i) => usize::try_from(i).ok().filter(|&w| w <= 1_000_000),
            Num::Uint(u) => usize::try_from(u).ok().filter(|&w| w <= 1_000_000),
            Num::Float(_) => None,
        },
        _ => None,
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    sharp_v: bool,
    space: bool,
    zero: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

#[derive(Debug, Default)]
struct Printer {
    buf: String,
    f: Flags,
}

impl Printer {
    /// Writes `s` padded to the width, on the left unless `-`.
    fn pad(&mut self, s: &str) {
        let len = s.chars().count();
        let fill = self.f.wid.unwrap_or(0).saturating_sub(len);
        if fill == 0 {
            self.buf.push_str(s);
        } else if self.f.minus {
            self.buf.push_str(s);
            self.buf.extend(std::iter::repeat_n(' ', fill));
        } else {
            let c = if self.f.zero { '0' } else { ' ' };
            self.buf.extend(std::iter::repeat_n(c, fill));
            self.buf.push_str(s);
        }
    }

    fn print_arg(&mut self, v: &Value, verb: char) {
        match v {
            Value::Null => match verb {
                'v' | 'T' => self.pad("<nil>"),
                _ => self.bad_verb(verb, v),
            },
            _ if verb == 'T' => self.pad(type_name(v)),
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, v),
            },
            Value::Number(n) => match num(n) {
                Num::Int(i) => self.fmt_integer(i < 0, i.unsigned_abs(), verb, v),
                Num::Uint(u) => self.fmt_integer(false, u, verb, v),
                Num::Float(f) => self.fmt_float(f, verb, v),
            },
            Value::String(s) => self.fmt_string(s, verb, v),
            Value::Array(items) => self.fmt_list(items, verb),
            Value::Object(map) => self.fmt_map(map, verb),
        }
    }

    /// A value inside a list or map: nil prints as `<nil>` whatever the verb.
    fn print_elem(&mut self, v: &Value, verb: char) {
        match v {
            Value::Null if self.f.sharp_v => self.buf.push_str("interface {}(nil)"),
            Value::Null => self.pad("<nil>"),
            _ => self.print_arg(v, verb),
        }
    }

    fn fmt_list(&mut self, items: &[Value], verb: char) {
        if self.f.sharp_v {
            self.buf.push_str("[]interface {}{");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                self.print_elem(item, verb);
            }
            self.buf.push('}');
            return;
        }
        self.buf.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.buf.push(' ');
            }
            self.print_elem(item, verb);
        }
        self.buf.push(']');
    }

    fn fmt_map(&mut self, map: &Map<String, Value>, verb: char) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        let sharp = self.f.sharp_v;
        self.buf
            .push_str(if sharp { "map[string]interface {}{" } else { "map[" });
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 {
                self.buf.push_str(if sharp { ", " } else { " " });
            }
            self.fmt_string(k, verb, &Value::String(k.clone()));
            self.buf.push(':');
            if let Some(v) = map.get(k) {
                self.print_elem(v, verb);
            }
        }
        self.buf.push(if sharp { '}' } else { ']' });
    }

    /// `%!verb(type=value)`.
    fn bad_verb(&mut self, verb: char, v: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if v.is_null() {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(type_name(v));
            self.buf.push('=');
            self.print_arg(v, 'v');
        }
        self.buf.push(')');
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        let s = match self.f.prec {
            Some(p) if matches!(verb, 's' | 'v' | 'q' | 'x' | 'X') => s.chars().take(p).collect::<String>(),
            _ => s.to_string(),
        };
        match verb {
            'v' if self.f.sharp_v => self.pad(&quote(&s)),
            'v' | 's' => self.pad(&s),
            'q' => self.pad(&quote(&s)),
            'x' | 'X' => {
                let mut out = String::new();
                for (i, b) in s.bytes().enumerate() {
                    if i > 0 && self.f.space {
                        out.push(' ');
                    }
                    if self.f.sharp && (i == 0 || self.f.space) {
                        out.push_str(if verb == 'x' { "0x" } else { "0X" });
                    }
                    if verb == 'x' {
                        out.push_str(&format!("{b:02x}"));
                    } else {
                        out.push_str(&format!("{b:02X}"));
                    }
                }
                self.pad(&out);
            }
            _ => self.bad_verb(verb, v),
        }
    }

    fn fmt_integer(&mut self, neg: bool, mag: u64, verb: char, v: &Value) {
        let (digits, prefix) = match verb {
            'v' | 'd' => (mag.to_string(), ""),
            'b' => (format!("{mag:b}"), if self.f.sharp { "0b" } else { "" }),
            'o' => (format!("{mag:o}"), if self.f.sharp { "0" } else { "" }),
            'O' => (format!("{mag:o}"), "0o"),
            'x' => (format!("{mag:x}"), if self.f.sharp { "0x" } else { "" }),
            'X' => (format!("{mag:X}"), if self.f.sharp { "0X" } else { "" }),
            'c' | 'q' | 'U' => {
                let c = u32::try_from(mag)
                    .ok()
                    .filter(|_| !neg)
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                let s = match verb {
                    'c' => c.to_string(),
                    'q' => quote_rune(c),
                    _ => format!("U+{:04X}", u32::from(c)),
                };
                self.pad(&s);
                return;
            }
            _ => return self.bad_verb(verb, v),
        };
        let sign = if neg {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        let mut digits = digits;
        if let Some(p) = self.f.prec {
            if p == 0 && mag == 0 {
                digits.clear();
            }
            if digits.len() < p {
                digits = format!("{}{digits}", "0".repeat(p - digits.len()));
            }
        } else if self.f.zero && !self.f.minus {
            if let Some(w) = self.f.wid {
                let used = sign.len() + prefix.len();
                if digits.len() + used < w {
                    digits = format!("{}{digits}", "0".repeat(w - used - digits.len()));
                }
            }
        }
        let s = format!("{sign}{prefix}{digits}");
        let zero = std::mem::replace(&mut self.f.zero, false);
        self.pad(&s);
        self.f.zero = zero;
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        let body = match verb {
            'v' | 'g' | 'G' => format_g(x.abs(), self.f.prec, verb == 'G'),
            'e' | 'E' => format_e(x.abs(), self.f.prec.unwrap_or(6), verb == 'E'),
            'f' | 'F' => format!("{:.*}", self.f.prec.unwrap_or(6), x.abs()),
            _ => return self.bad_verb(verb, v),
        };
        let sign = if x.is_sign_negative() {
            "-"
        } else if self.f.plus {
            "+"
        } else if self.f.space {
            " "
        } else {
            ""
        };
        if self.f.zero && !self.f.minus {
            if let Some(w) = self.f.wid {
                let len = sign.len() + body.len();
                if len < w {
                    self.buf.push_str(sign);
                    self.buf.extend(std::iter::repeat_n('0', w - len));
                    self.buf.push_str(&body);
                    return;
                }
            }
        }
        let zero = std::mem::replace(&mut self.f.zero, false);
        self.pad(&format!("{sign}{body}"));
        self.f.zero = zero;
    }
}

#[cfg(test)]
mod tests {
    use super::super::strconv::format_float;
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_go_prints_float64() {
        let cases = [
            (8000.0, "8000"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e6, "1e+06"),
            (999_999.0, "999999"),
            (1_234_567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123_456.789, "123456.789"),
            (0.0, "0"),
        ];
        for (x, want) in cases {
            assert_eq!(format_float(x), want, "{x}");
        }
    }

    #[test]
    fn values_print_as_go_prints_any() {
        let v = json!({"b": [1, "x", null, true], "a": {"z": 1.5}, "c": null});
        assert_eq!(sprint_one(&v), "map[a:map[z:1.5] b:[1 x <nil> true] c:<nil>]");
        assert_eq!(sprint_one(&json!([])), "[]");
        assert_eq!(sprint_one(&Value::Null), "<nil>");
    }

    #[test]
    fn print_spaces_only_between_non_strings() {
        let (a, one, two, b) = (json!("a"), json!(1), json!(2), json!("b"));
        assert_eq!(sprint(&[&a, &one, &two, &b]), "a1 2b");
        assert_eq!(sprint(&[&NIL, &NIL]), "<nil> <nil>");
        assert_eq!(sprintln(&[&a, &one]), "a 1\n");
    }

    #[test]
    fn printf_verbs() {
        let f = |fmt: &str, args: &[Value]| sprintf(fmt, &args.iter().collect::<Vec<_>>());
        assert_eq!(f("%s:%d", &[json!("host"), json!(8000)]), "host:8000");
        assert_eq!(
            f(
                "%v|%q|%5.2f|%-4d|%04d",
                &[json!([1, 2]), json!("a\"b"), json!(3.25159), json!(7), json!(-7)]
            ),
            "[1 2]|\"a\\\"b\"| 3.25|7   |-007"
        );
        assert_eq!(f("%d", &[json!("x")]), "%!d(string=x)");
        assert_eq!(f("%s", &[json!(5)]), "%!s(int=5)");
        assert_eq!(f("%d %d", &[json!(1)]), "1 %!d(MISSING)");
        assert_eq!(
            f("%d", &[json!(1), json!("a"), Value::Null]),
            "1%!(EXTRA string=a, <nil>)"
        );
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(
            f(
                "%e|%g|%.3g|%x|%X|%t",
                &[
                    json!(1234.5678),
                    json!(1e-7),
                    json!(1234.5678),
                    json!(255),
                    json!("hi"),
                    json!(true)
                ]
            ),
            "1.234568e+03|1e-07|1.23e+03|ff|6869|true"
        );
        assert_eq!(
            f("%v %s", &[json!({"k": "v"}), json!(["a", 1])]),
            "map[k:v] [a %!s(int=1)]"
        );
        assert_eq!(
            f("%#v %#v", &[json!("s"), json!([1, null])]),
            "\"s\" []interface {}{1, interface {}(nil)}"
        );
        assert_eq!(
            f("%c%q%U", &[json!(65), json!(97), json!(0x1F600)]),
            "A'a'U+1F600"
        );
        assert_eq!(f("%[2]d %[1]d", &[json!(1), json!(2)]), "2 1");
        assert_eq!(f("%", &[]), "%!(NOVERB)");
        assert_eq!(
            f("%.1f %.0f %.2f", &[json!(0.25), json!(2.5), json!(1.005)]),
            "0.2 2 1.00"
        );
        assert_eq!(
            f("%8.3f|%+d|%x", &[json!(-3.25159), json!(5), json!(-255)]),
            "  -3.252|+5|-ff"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\tb\u{1}é\u{200B}"), "\"a\\tb\\x01é\\u200b\"");
    }
}

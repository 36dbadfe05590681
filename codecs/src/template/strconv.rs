//! Go's `strconv` pieces the templates need: float formatting (`%e`, `%f`, `%g` with Go's
//! shortest digits and exponent rules), `Quote`/`QuoteRune`, and `Unquote` for literals.

/// Decimal digits (no leading or trailing zeros) and the decimal point's position: `x` is
/// `0.d1d2d3… × 10^dp`. `sig` limits the digits, rounded; `None` gives the shortest digits that
/// read back as `x`, as Go's `strconv` does.
fn digits(x: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if x == 0.0 {
        return (Vec::new(), 0);
    }
    let sci = match sig {
        Some(n) => format!("{:.*e}", n.max(1) - 1, x),
        None => format!("{x:e}"),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    while d.last() == Some(&0) {
        d.pop();
    }
    (d, exp + 1)
}

/// `%e` of a non-negative float: `d.dddde±dd`.
pub(crate) fn format_e(x: f64, prec: usize, upper: bool) -> String {
    let (d, dp) = digits(x, Some(prec + 1));
    fmt_e(&d, dp, prec, upper)
}

fn fmt_e(d: &[u8], dp: i32, prec: usize, upper: bool) -> String {
    let mut s = String::new();
    s.push(char::from(b'0' + d.first().copied().unwrap_or(0)));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(char::from(b'0' + d.get(i).copied().unwrap_or(0)));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    s.push(if upper { 'E' } else { 'e' });
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.unsigned_abs()));
    s
}

fn fmt_f(d: &[u8], dp: i32, decimals: usize) -> String {
    let digit = |i: i32| -> char {
        let b = usize::try_from(i)
            .ok()
            .and_then(|i| d.get(i))
            .copied()
            .unwrap_or(0);
        char::from(b'0' + b)
    };
    let mut s = String::new();
    if dp > 0 {
        (0..dp).for_each(|i| s.push(digit(i)));
    } else {
        s.push('0');
    }
    if decimals > 0 {
        s.push('.');
        for i in 0..decimals {
            s.push(digit(dp + i as i32));
        }
    }
    s
}

/// `%g` (and `%v`) of a non-negative float, following Go's `strconv.FormatFloat(x, 'g', prec, 64)`:
/// exponent form when the exponent is below -4 or at least the precision (6 when shortest).
pub(crate) fn format_g(x: f64, prec: Option<usize>, upper: bool) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    let shortest = prec.is_none();
    let prec = prec.map(|p| p.max(1));
    let (d, dp) = digits(x, prec);
    let nd = d.len();
    let mut eprec = prec.unwrap_or(nd);
    if eprec > nd && nd as i32 >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec as i32 {
        let p = prec.unwrap_or(nd).min(nd);
        return fmt_e(&d, dp, p.saturating_sub(1), upper);
    }
    let mut p = prec.unwrap_or(nd);
    if p as i32 > dp {
        p = nd;
    }
    fmt_f(&d, dp, usize::try_from(p as i32 - dp).unwrap_or(0))
}

/// Go's `%v` of a float64.
#[cfg(test)]
pub(crate) fn format_float(x: f64) -> String {
    let body = format_g(x.abs(), None, false);
    if x.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Whether Go's `unicode.IsPrint` holds, near enough: no control, format or non-ASCII space
/// characters.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'))
}

fn escape_into(out: &mut String, c: char, quote: char) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    s.chars().for_each(|c| escape_into(&mut out, c, '"'));
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
pub(crate) fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_into(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Go's `strconv.Unquote` for the body of an interpreted literal quoted with `quote`.
pub(crate) fn unquote(body: &str, quote: char) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return Err("invalid syntax: unescaped quote in literal".to_string());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("invalid syntax: trailing backslash")?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if e == quote => out.push(e),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == n)
                    .ok_or_else(|| format!("invalid syntax: bad escape \\{e}{hex}"))?;
                if e == 'x' && quote == '"' {
                    // \xHH is a byte in Go; bytes above 0x7f cannot stand alone in a Rust string.
                    let ch = char::from_u32(v)
                        .filter(|_| v < 0x80)
                        .ok_or_else(|| format!("unsupported escape \\x{hex}: not valid UTF-8 on its own"))?;
                    out.push(ch);
                } else {
                    out.push(
                        char::from_u32(v).ok_or_else(|| format!("invalid syntax: bad escape \\{e}{hex}"))?,
                    );
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or("invalid syntax: bad octal escape")?;
                    v = v * 8 + d;
                }
                let ch = char::from_u32(v)
                    .filter(|_| v < 0x80)
                    .ok_or_else(|| format!("unsupported escape \\{v:o}: not valid UTF-8 on its own"))?;
                out.push(ch);
            }
            other => return Err(format!("invalid syntax: unknown escape \\{other}")),
        }
    }
    Ok(out)
}

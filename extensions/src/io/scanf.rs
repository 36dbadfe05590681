//! Go's `fmt.Fscanf` for the `scan` kind: a format of verbs, spaces, newlines and literal text read
//! against a character source, answering the scanned values in order.
//!
//! Verbs (uniflow's set): `%t` a boolean; `%d` a decimal, `%o`/`%O` an octal and `%U` a `U+XXXX`
//! integer; `%b %e %E %f %F %g %G %x %X` a float; `%s` a run of non-space characters; `%c` one
//! character, answered as its code point (uniflow answers a byte); `%%` a literal `%`. A width
//! (`%5s`) caps the characters a verb reads. Spaces follow Go's rules: a newline in the format matches
//! spaces then a newline (or the end) in the input, other spaces match one or more spaces, and a verb
//! other than `%c` skips spaces but not newlines. Characters read ahead and not used stay in the
//! [`Source`] for the next scan.

use std::io::BufRead;

use weir_engine::Value;

/// Where characters come from: a buffered reader (a file, or the host's stdin) plus the characters
/// read ahead and put back.
pub struct Source {
    reader: Reader,
    pending: Vec<char>,
}

enum Reader {
    Stdin,
    Buffered(Box<dyn BufRead + Send>),
}

impl Source {
    /// The host's standard input (its buffer is shared with every other reader of stdin).
    pub fn stdin() -> Self {
        Source {
            reader: Reader::Stdin,
            pending: Vec::new(),
        }
    }

    pub fn new(reader: impl BufRead + Send + 'static) -> Self {
        Source {
            reader: Reader::Buffered(Box::new(reader)),
            pending: Vec::new(),
        }
    }

    fn read_char(&mut self) -> std::io::Result<Option<char>> {
        if let Some(c) = self.pending.pop() {
            return Ok(Some(c));
        }
        match &mut self.reader {
            Reader::Stdin => read_utf8(&mut std::io::stdin().lock()),
            Reader::Buffered(r) => read_utf8(r.as_mut()),
        }
    }
}

/// One UTF-8 character; an invalid sequence reads as U+FFFD.
fn read_utf8(r: &mut dyn BufRead) -> std::io::Result<Option<char>> {
    let mut bytes = [0u8; 4];
    let Some(first) = read_byte(r)? else {
        return Ok(None);
    };
    bytes[0] = first;
    let len = match first {
        0x00..=0x7f => return Ok(Some(char::from(first))),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return Ok(Some(char::REPLACEMENT_CHARACTER)),
    };
    for slot in bytes.iter_mut().take(len).skip(1) {
        match read_byte(r)? {
            Some(b) => *slot = b,
            None => return Ok(Some(char::REPLACEMENT_CHARACTER)),
        }
    }
    Ok(Some(
        std::str::from_utf8(&bytes[..len])
            .ok()
            .and_then(|s| s.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER),
    ))
}

fn read_byte(r: &mut dyn BufRead) -> std::io::Result<Option<u8>> {
    let b = match r.fill_buf()?.first() {
        Some(b) => *b,
        None => return Ok(None),
    };
    r.consume(1);
    Ok(Some(b))
}

/// Why a scan failed; the messages are Go's where Go has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The input ended before a verb found its value (Go's `EOF`).
    #[error("EOF")]
    Eof,
    /// The input ended in the middle of what the format asks for.
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The input does not have the shape the format asks for.
    #[error("{0}")]
    Input(String),
    /// The format itself is not one scan understands.
    #[error("{0}")]
    Format(String),
    #[error("read failed: {0}")]
    Io(String),
}

type Scan<T> = Result<T, ScanError>;

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Reads from a source with an optional cap on the characters of the current verb.
struct Scanner<'a> {
    src: &'a mut Source,
    limit: usize,
}

impl Scanner<'_> {
    fn get(&mut self) -> Scan<Option<char>> {
        if self.limit == 0 {
            return Ok(None);
        }
        let c = self.src.read_char().map_err(|e| ScanError::Io(e.to_string()))?;
        if c.is_some() {
            self.limit -= 1;
        }
        Ok(c)
    }

    fn unget(&mut self, c: char) {
        self.src.pending.push(c);
        self.limit = self.limit.saturating_add(1);
    }

    /// Consumes the next character when it is one of `set`.
    fn accept(&mut self, set: &str, token: &mut String) -> Scan<bool> {
        match self.get()? {
            Some(c) if set.contains(c) => {
                token.push(c);
                Ok(true)
            }
            Some(c) => {
                self.unget(c);
                Ok(false)
            }
            None => Ok(false),
        }
    }

    /// Skips spaces before a verb; a newline is an error (Fscanf does not treat it as space).
    fn skip_space(&mut self) -> Scan<()> {
        loop {
            match self.get()? {
                None => return Ok(()),
                Some('\r') => match self.get()? {
                    Some('\n') => return Err(ScanError::Input("unexpected newline".into())),
                    Some(c) => self.unget(c),
                    None => return Ok(()),
                },
                Some('\n') => return Err(ScanError::Input("unexpected newline".into())),
                Some(c) if is_space(c) => {}
                Some(c) => {
                    self.unget(c);
                    return Ok(());
                }
            }
        }
    }

    /// Fails with EOF when nothing is left.
    fn not_eof(&mut self) -> Scan<()> {
        match self.get()? {
            None => Err(ScanError::Eof),
            Some(c) => {
                self.unget(c);
                Ok(())
            }
        }
    }
}

/// Scans `format` against `src`, answering one value per verb.
pub fn scanf(src: &mut Source, format: &str) -> Scan<Vec<Value>> {
    let f: Vec<char> = format.chars().collect();
    let mut s = Scanner {
        src,
        limit: usize::MAX,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < f.len() {
        let c = f[i];
        if is_space(c) {
            let mut newlines = 0;
            let mut trailing_space = false;
            while i < f.len() && is_space(f[i]) {
                if f[i] == '\n' {
                    newlines += 1;
                    trailing_space = false;
                } else {
                    trailing_space = true;
                }
                i += 1;
            }
            spaces(&mut s, newlines, trailing_space)?;
            continue;
        }
        if c != '%' {
            match s.get()? {
                Some(r) if r == c => {}
                Some(r) => {
                    s.unget(r);
                    return Err(ScanError::Input("input does not match format".into()));
                }
                None => return Err(ScanError::UnexpectedEof),
            }
            i += 1;
            continue;
        }
        i += 1;
        let mut width = None;
        while i < f.len() && f[i].is_ascii_digit() {
            width = Some(width.unwrap_or(0) * 10 + (f[i] as usize - '0' as usize));
            i += 1;
        }
        let Some(&verb) = f.get(i) else {
            return Err(ScanError::Format(
                "missing verb: % at end of format string".into(),
            ));
        };
        i += 1;
        if verb != 'c' {
            s.skip_space()?;
        }
        if verb == '%' {
            match s.get()? {
                Some('%') => continue,
                Some(r) => {
                    s.unget(r);
                    return Err(ScanError::Input("missing literal %".into()));
                }
                None => return Err(ScanError::UnexpectedEof),
            }
        }
        s.limit = width.unwrap_or(usize::MAX);
        let value = one(&mut s, verb);
        s.limit = usize::MAX;
        out.push(value?);
    }
    Ok(out)
}

/// A run of spaces in the format (Go's rules, see the module docs).
fn spaces(s: &mut Scanner<'_>, newlines: usize, trailing_space: bool) -> Scan<()> {
    for _ in 0..newlines {
        let mut c = s.get()?;
        while matches!(c, Some(x) if is_space(x) && x != '\n') {
            c = s.get()?;
        }
        if !matches!(c, Some('\n') | None) {
            return Err(ScanError::Input("newline in format does not match input".into()));
        }
    }
    if trailing_space {
        let mut c = s.get()?;
        if newlines == 0 {
            match c {
                Some('\n') => return Err(ScanError::Input("newline in input does not match format".into())),
                Some(x) if !is_space(x) => {
                    return Err(ScanError::Input("expected space in input to match format".into()))
                }
                _ => {}
            }
        }
        while matches!(c, Some(x) if is_space(x) && x != '\n') {
            c = s.get()?;
        }
        if let Some(x) = c {
            s.unget(x);
        }
    }
    Ok(())
}

/// One verb's value.
fn one(s: &mut Scanner<'_>, verb: char) -> Scan<Value> {
    match verb {
        'c' => match s.get()? {
            Some(c) => Ok(Value::from(u32::from(c))),
            None => Err(ScanError::Eof),
        },
        't' => {
            s.not_eof()?;
            boolean(s).map(Value::from)
        }
        'd' | 'o' | 'O' | 'U' => {
            s.not_eof()?;
            integer(s, verb).map(Value::from)
        }
        'b' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 'x' | 'X' => {
            s.not_eof()?;
            float(s).map(Value::from)
        }
        's' => {
            s.not_eof()?;
            let mut text = String::new();
            while let Some(c) = s.get()? {
                if is_space(c) {
                    s.unget(c);
                    break;
                }
                text.push(c);
            }
            Ok(Value::from(text))
        }
        other => Err(ScanError::Format(format!(
            "bad verb '%{other}': scan reads %t, %d, %o, %O, %U, %b, %e, %E, %f, %F, %g, %G, %x, %X, %s, %c"
        ))),
    }
}

fn boolean(s: &mut Scanner<'_>) -> Scan<bool> {
    let bad = || ScanError::Input("syntax error scanning boolean".into());
    let mut t = String::new();
    match s.get()? {
        Some('0') => Ok(false),
        Some('1') => Ok(true),
        Some('t' | 'T') => {
            if s.accept("rR", &mut t)? && (!s.accept("uU", &mut t)? || !s.accept("eE", &mut t)?) {
                return Err(bad());
            }
            Ok(true)
        }
        Some('f' | 'F') => {
            if s.accept("aA", &mut t)?
                && (!s.accept("lL", &mut t)? || !s.accept("sS", &mut t)? || !s.accept("eE", &mut t)?)
            {
                return Err(bad());
            }
            Ok(false)
        }
        _ => Err(bad()),
    }
}

fn integer(s: &mut Scanner<'_>, verb: char) -> Scan<i64> {
    let mut token = String::new();
    let (digits, radix) = match verb {
        'U' => {
            let mut prefix = String::new();
            if !s.accept("U", &mut prefix)? || !s.accept("+", &mut prefix)? {
                return Err(ScanError::Input("bad unicode format ".into()));
            }
            ("0123456789abcdefABCDEF", 16)
        }
        'o' | 'O' => ("01234567", 8),
        _ => ("0123456789", 10),
    };
    s.accept("+-", &mut token)?;
    if verb == 'O' {
        let mut prefix = String::new();
        if s.accept("0", &mut prefix)? && !s.accept("oO", &mut prefix)? {
            token.push('0');
        }
    }
    let start = token.len();
    while s.accept(digits, &mut token)? {}
    if token.len() == start && !token.ends_with('0') {
        return Err(ScanError::Input("expected integer".into()));
    }
    i64::from_str_radix(&token, radix)
        .map_err(|_| ScanError::Input(format!("integer overflow on token {token}")))
}

fn float(s: &mut Scanner<'_>) -> Scan<f64> {
    let mut t = String::new();
    if s.accept("nN", &mut t)? && s.accept("aA", &mut t)? && s.accept("nN", &mut t)? {
        return Ok(f64::NAN);
    }
    s.accept("+-", &mut t)?;
    let sign = t.clone();
    if s.accept("iI", &mut t)? && s.accept("nN", &mut t)? && s.accept("fF", &mut t)? {
        return Ok(if sign == "-" {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let digits = "0123456789_";
    while s.accept(digits, &mut t)? {}
    if s.accept(".", &mut t)? {
        while s.accept(digits, &mut t)? {}
    }
    if s.accept("eEpP", &mut t)? {
        s.accept("+-", &mut t)?;
        while s.accept(digits, &mut t)? {}
    }
    t.replace('_', "")
        .parse::<f64>()
        .map_err(|_| ScanError::Input(format!("strconv.ParseFloat: parsing {t:?}: invalid syntax")))
}

//! Lexer for Go's `text/template` syntax: splits a template into text and the tokens inside
//! `{{ … }}`, applying the trim markers (`{{- ` and ` -}}`) and dropping comments (`{{/* … */}}`)
//! exactly as Go's `text/template/parse` lexer does.

use super::strconv::unquote;
use super::SyntaxError;

/// One lexical item. Text has its trim markers already applied; string literals are unquoted.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    Comma,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    Dot,
    /// A field name, without its leading `.`.
    Field(String),
    /// A variable, with its leading `$` (`$` alone is the root).
    Variable(String),
    Ident(String),
    Keyword(Keyword),
    Bool(bool),
    Nil,
    /// A number literal as written (sign, base prefix, underscores and all).
    Number(String),
    /// A character constant as written, quotes included.
    Char(String),
    /// A string literal: `value` unquoted, `text` as written.
    Str {
        value: String,
        text: String,
    },
    /// Any other printable character inside an action; the parser reports it.
    Other(char),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

/// A token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `- ` right after `{{`.
fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// ` -` right before `}}`.
fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Splits `input` into tokens, ending with [`Tok::Eof`].
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lx = Lexer {
        input,
        pos: 0,
        toks: Vec::new(),
        paren_depth: 0,
    };
    lx.run()?;
    Ok(lx.toks)
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    toks: Vec<Token>,
    paren_depth: usize,
}

impl<'a> Lexer<'a> {
    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.toks.push(Token { tok, pos });
    }

    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Whether `pos` starts a closing delimiter, and whether it carries a trim marker.
    fn at_right_delim(&self, pos: usize) -> (bool, bool) {
        let s = &self.input[pos..];
        if has_right_trim(s) && s[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (s.starts_with(RIGHT), false)
    }

    fn skip_leading_space(&mut self) {
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.pos += n;
    }

    fn run(&mut self) -> Result<(), SyntaxError> {
        loop {
            let Some(x) = self.rest().find(LEFT) else {
                if self.pos < self.input.len() {
                    self.emit(Tok::Text(self.rest().to_string()), self.pos);
                }
                self.emit(Tok::Eof, self.input.len());
                return Ok(());
            };
            let delim = self.pos + x;
            let after = delim + LEFT.len();
            let trim_left = has_left_trim(&self.input[after..]);
            let text = &self.input[self.pos..delim];
            let text = if trim_left {
                text.trim_end_matches(is_space)
            } else {
                text
            };
            if !text.is_empty() {
                self.emit(Tok::Text(text.to_string()), self.pos);
            }
            self.pos = after + if trim_left { 2 } else { 0 };
            if self.rest().starts_with("/*") {
                self.comment(delim)?;
            } else {
                self.emit(Tok::LeftDelim, delim);
                self.paren_depth = 0;
                self.inside_action(delim)?;
            }
        }
    }

    fn comment(&mut self, delim: usize) -> Result<(), SyntaxError> {
        let body = self.pos + 2;
        let Some(end) = self.input[body..].find("*/") else {
            return self.err(delim, "unclosed comment");
        };
        self.pos = body + end + 2;
        let (is_delim, trim) = self.at_right_delim(self.pos);
        if !is_delim {
            return self.err(delim, "comment ends before closing delimiter");
        }
        self.pos += if trim { 2 } else { 0 } + RIGHT.len();
        if trim {
            self.skip_leading_space();
        }
        Ok(())
    }

    fn inside_action(&mut self, delim: usize) -> Result<(), SyntaxError> {
        loop {
            let (is_delim, trim) = self.at_right_delim(self.pos);
            if is_delim {
                if self.paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                self.emit(Tok::RightDelim, self.pos);
                self.pos += if trim { 2 } else { 0 } + RIGHT.len();
                if trim {
                    self.skip_leading_space();
                }
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return self.err(delim, "unclosed action");
            };
            match c {
                c if is_space(c) => self.space(),
                '=' => self.single(Tok::Assign),
                ':' => {
                    if !self.rest().starts_with(":=") {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.emit(Tok::Declare, start);
                }
                '|' => self.single(Tok::Pipe),
                ',' => self.single(Tok::Comma),
                '"' => self.quote()?,
                '`' => self.raw_quote()?,
                '\'' => self.char_constant()?,
                '$' => {
                    self.pos += 1;
                    self.word(start, true)?;
                }
                '.' => {
                    let next = self.input[start + 1..].chars().next();
                    if next.is_some_and(|d| d.is_ascii_digit()) {
                        self.number()?;
                    } else {
                        self.pos += 1;
                        self.word(start, false)?;
                    }
                }
                '+' | '-' | '0'..='9' => self.number()?,
                '(' => {
                    self.paren_depth += 1;
                    self.single(Tok::LeftParen);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.single(Tok::RightParen);
                }
                c if is_alnum(c) => self.identifier()?,
                c if c.is_ascii_graphic() => self.single(Tok::Other(c)),
                c => {
                    return self.err(
                        start,
                        format!("unrecognized character in action: {}", describe(c)),
                    )
                }
            }
        }
    }

    fn single(&mut self, tok: Tok) {
        let start = self.pos;
        self.pos += self.peek().map_or(1, char::len_utf8);
        self.emit(tok, start);
    }

    /// A run of spaces; the last one stays if it belongs to a ` -}}` trim marker.
    fn space(&mut self) {
        let start = self.pos;
        let n = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        let end = start + n;
        let last = &self.input[end - 1..];
        if has_right_trim(last) && last[2..].starts_with(RIGHT) {
            // The final space is part of the closing trim marker.
            if n > 1 {
                self.emit(Tok::Space, start);
            }
            self.pos = end - 1;
            return;
        }
        self.emit(Tok::Space, start);
        self.pos = end;
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT),
        }
    }

    /// After `$` or `.`: a variable, a field, or `.` alone.
    fn word(&mut self, start: usize, variable: bool) -> Result<(), SyntaxError> {
        if !variable && self.at_terminator() {
            self.emit(Tok::Dot, start);
            return Ok(());
        }
        let n = self.rest().len() - self.rest().trim_start_matches(is_alnum).len();
        self.pos += n;
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.err(self.pos, format!("bad character {}", describe(c)));
        }
        let text = &self.input[start..self.pos];
        if variable {
            self.emit(Tok::Variable(text.to_string()), start);
        } else {
            self.emit(Tok::Field(text[1..].to_string()), start);
        }
        Ok(())
    }

    fn identifier(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        let n = self.rest().len() - self.rest().trim_start_matches(is_alnum).len();
        self.pos += n;
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.err(self.pos, format!("bad character {}", describe(c)));
        }
        let word = &self.input[start..self.pos];
        let tok = match word {
            "block" => Tok::Keyword(Keyword::Block),
            "break" => Tok::Keyword(Keyword::Break),
            "continue" => Tok::Keyword(Keyword::Continue),
            "define" => Tok::Keyword(Keyword::Define),
            "else" => Tok::Keyword(Keyword::Else),
            "end" => Tok::Keyword(Keyword::End),
            "if" => Tok::Keyword(Keyword::If),
            "range" => Tok::Keyword(Keyword::Range),
            "template" => Tok::Keyword(Keyword::Template),
            "with" => Tok::Keyword(Keyword::With),
            "nil" => Tok::Nil,
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            _ => Tok::Ident(word.to_string()),
        };
        self.emit(tok, start);
        Ok(())
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    /// Go's `scanNumber`: sign, base prefix, digits, fraction, exponent.
    fn number(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
            return self.err(
                start,
                format!("bad number syntax: {:?}", &self.input[start..self.pos]),
            );
        }
        self.emit(Tok::Number(self.input[start..self.pos].to_string()), start);
        Ok(())
    }

    /// Scans to the closing `quote`, honouring backslash escapes; returns the text with quotes.
    fn scan_quoted(&mut self, quote: char, what: &str) -> Result<&'a str, SyntaxError> {
        let start = self.pos;
        let mut chars = self.input[start + 1..].char_indices();
        loop {
            match chars.next() {
                Some((_, '\\')) => {
                    if let Some((_, '\n')) | None = chars.next() {
                        return self.err(start, format!("unterminated {what}"));
                    }
                }
                Some((_, '\n')) | None => return self.err(start, format!("unterminated {what}")),
                Some((i, c)) if c == quote => {
                    self.pos = start + 1 + i + 1;
                    return Ok(&self.input[start..self.pos]);
                }
                Some(_) => {}
            }
        }
    }

    fn quote(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        let text = self.scan_quoted('"', "quoted string")?;
        let value = unquote(&text[1..text.len() - 1], '"').map_err(|m| SyntaxError {
            pos: start,
            message: m,
        })?;
        self.emit(
            Tok::Str {
                value,
                text: text.to_string(),
            },
            start,
        );
        Ok(())
    }

    fn raw_quote(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        let Some(end) = self.input[start + 1..].find('`') else {
            return self.err(start, "unterminated raw quoted string");
        };
        self.pos = start + 1 + end + 1;
        let text = &self.input[start..self.pos];
        let value = text[1..text.len() - 1].replace('\r', "");
        self.emit(
            Tok::Str {
                value,
                text: text.to_string(),
            },
            start,
        );
        Ok(())
    }

    fn char_constant(&mut self) -> Result<(), SyntaxError> {
        let start = self.pos;
        let text = self.scan_quoted('\'', "character constant")?;
        self.emit(Tok::Char(text.to_string()), start);
        Ok(())
    }
}

/// `U+0023 '#'`, as Go's `%#U` writes a character.
pub(crate) fn describe(c: char) -> String {
    format!("U+{:04X} '{c}'", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn text_and_fields() {
        assert_eq!(
            toks("a {{.X.Y}} b"),
            vec![
                Tok::Text("a ".into()),
                Tok::LeftDelim,
                Tok::Field("X".into()),
                Tok::Field("Y".into()),
                Tok::RightDelim,
                Tok::Text(" b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn trim_markers_eat_whitespace() {
        assert_eq!(
            toks("a \n {{- . -}} \n b"),
            vec![
                Tok::Text("a".into()),
                Tok::LeftDelim,
                Tok::Dot,
                Tok::RightDelim,
                Tok::Text("b".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn minus_without_space_is_a_number() {
        assert_eq!(
            toks("{{-3}}"),
            vec![
                Tok::LeftDelim,
                Tok::Number("-3".into()),
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_vanish_and_can_trim() {
        assert_eq!(
            toks("a {{- /* x\ny */ -}} b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into()), Tok::Eof]
        );
        assert!(lex("{{/* x */ }}").is_err());
        assert!(lex("{{/* x").is_err());
    }

    #[test]
    fn strings_and_declarations() {
        assert_eq!(
            toks(r#"{{$x := "a\n" | printf `%s`}}"#),
            vec![
                Tok::LeftDelim,
                Tok::Variable("$x".into()),
                Tok::Space,
                Tok::Declare,
                Tok::Space,
                Tok::Str {
                    value: "a\n".into(),
                    text: r#""a\n""#.into()
                },
                Tok::Space,
                Tok::Pipe,
                Tok::Space,
                Tok::Ident("printf".into()),
                Tok::Space,
                Tok::Str {
                    value: "%s".into(),
                    text: "`%s`".into()
                },
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let e = lex("ab {{ .X").unwrap_err();
        assert_eq!((e.pos, e.message.as_str()), (3, "unclosed action"));
        let e = lex("{{ \"abc }}").unwrap_err();
        assert_eq!(e.message, "unterminated quoted string");
        let e = lex("{{ 3x }}").unwrap_err();
        assert_eq!(e.message, "bad number syntax: \"3x\"");
    }
}

//! Parser for Go's `text/template`: turns the lexer's tokens into a tree of text, actions and
//! control structures (`if`, `range`, `with`), checking what Go's parser checks (defined functions
//! and variables, empty pipelines, non-executable pipeline stages).

use super::ast::{Branch, Cmd, Node, OpKind, Operand, Pipe};
use super::funcs;
use super::lex::{Keyword, Tok, Token};
use super::SyntaxError;

/// Deepest nesting of parentheses and control structures accepted.
const MAX_DEPTH: usize = 100;

/// How an item list ended.
enum End {
    End,
    Else,
}

/// Parses a token stream (from [`super::lex::lex`]) into the template's top-level nodes.
pub(crate) fn parse(toks: Vec<Token>, input_len: usize) -> Result<Vec<Node>, SyntaxError> {
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        input_len,
    };
    let mut nodes = Vec::new();
    while !matches!(p.peek().tok, Tok::Eof) {
        match p.text_or_action()? {
            Item::Node(n) => nodes.push(n),
            Item::End(pos) => return p.err(pos, "unexpected {{end}}"),
            Item::Else(pos) => return p.err(pos, "unexpected {{else}}"),
        }
    }
    Ok(nodes)
}

enum Item {
    Node(Node),
    End(usize),
    Else(usize),
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    input_len: usize,
}

impl Parser {
    fn err<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            pos,
            message: message.into(),
        })
    }

    /// The next token; past the end, the final [`Tok::Eof`] again.
    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    fn backup(&mut self, n: usize) {
        self.i -= n;
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.tok != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup(1);
        t
    }

    fn enter(&mut self, pos: usize) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(pos, format!("template nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn unexpected<T>(&self, t: &Token, context: &str) -> Result<T, SyntaxError> {
        let what = match &t.tok {
            Tok::Eof => return self.err(self.input_len, format!("unexpected EOF in {context}")),
            Tok::RightDelim => "\"}}\"".to_string(),
            Tok::LeftDelim => "\"{{\"".to_string(),
            Tok::Pipe => "\"|\"".to_string(),
            Tok::LeftParen => "\"(\"".to_string(),
            Tok::RightParen => "\")\"".to_string(),
            Tok::Comma => "\",\"".to_string(),
            Tok::Declare => "\":=\"".to_string(),
            Tok::Assign => "\"=\"".to_string(),
            Tok::Other(c) => format!("{:?}", c.to_string()),
            Tok::Keyword(k) => format!("<{}>", keyword_name(*k)),
            Tok::Text(s) => format!("text {s:?}"),
            other => format!("{other:?}"),
        };
        self.err(t.pos, format!("unexpected {what} in {context}"))
    }

    fn text_or_action(&mut self) -> Result<Item, SyntaxError> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(s) => Ok(Item::Node(Node::Text(s))),
            Tok::LeftDelim => self.action(),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, End), SyntaxError> {
        let mut list = Vec::new();
        while !matches!(self.peek_non_space().tok, Tok::Eof) {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                Item::End(_) => return Ok((list, End::End)),
                Item::Else(_) => return Ok((list, End::Else)),
            }
        }
        self.err(self.input_len, "unexpected EOF")
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), SyntaxError> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.unexpected(&t, context);
        }
        Ok(())
    }

    fn action(&mut self) -> Result<Item, SyntaxError> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Keyword(Keyword::Else) => {
                // `else if` and `else with` leave the keyword pending for the enclosing control.
                let peek = self.peek_non_space();
                if !matches!(peek.tok, Tok::Keyword(Keyword::If | Keyword::With)) {
                    self.expect_right_delim("else")?;
                }
                Ok(Item::Else(t.pos))
            }
            Tok::Keyword(Keyword::End) => {
                self.expect_right_delim("end")?;
                Ok(Item::End(t.pos))
            }
            Tok::Keyword(Keyword::If) => Ok(Item::Node(Node::If(self.control("if", t.pos)?))),
            Tok::Keyword(Keyword::Range) => Ok(Item::Node(Node::Range(self.control("range", t.pos)?))),
            Tok::Keyword(Keyword::With) => Ok(Item::Node(Node::With(self.control("with", t.pos)?))),
            Tok::Keyword(k @ (Keyword::Break | Keyword::Continue)) => {
                let name = keyword_name(k);
                self.expect_right_delim(name)?;
                if self.range_depth == 0 {
                    return self.err(t.pos, format!("{{{{{name}}}}} outside {{{{range}}}}"));
                }
                Ok(Item::Node(if k == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                }))
            }
            Tok::Keyword(k @ (Keyword::Define | Keyword::Template | Keyword::Block)) => self.err(
                t.pos,
                format!(
                    "{{{{{}}}}} is not supported: a spec field is one template",
                    keyword_name(k)
                ),
            ),
            _ => {
                self.backup(1);
                let pipe = self.pipeline("command", &Tok::RightDelim)?;
                Ok(Item::Node(Node::Action(pipe)))
            }
        }
    }

    fn control(&mut self, context: &'static str, pos: usize) -> Result<Branch, SyntaxError> {
        self.enter(pos)?;
        let vars = self.vars.len();
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let End::Else = end {
            let peek = self.peek().clone();
            match (&peek.tok, context) {
                (Tok::Keyword(Keyword::If), "if") => {
                    self.next();
                    else_list = Some(vec![Node::If(self.control("if", peek.pos)?)]);
                }
                (Tok::Keyword(Keyword::With), "with") => {
                    self.next();
                    else_list = Some(vec![Node::With(self.control("with", peek.pos)?)]);
                }
                (Tok::Keyword(k @ (Keyword::If | Keyword::With)), _) => {
                    return self.err(
                        peek.pos,
                        format!("{{{{else {}}}}} inside {{{{{context}}}}}", keyword_name(*k)),
                    );
                }
                _ => {
                    let (list, end) = self.item_list()?;
                    if let End::Else = end {
                        return self.err(
                            pos,
                            format!("expected {{{{end}}}} for {{{{{context}}}}}; found {{{{else}}}}"),
                        );
                    }
                    else_list = Some(list);
                }
            }
        }
        self.vars.truncate(vars);
        self.depth -= 1;
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> Result<Pipe, SyntaxError> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let t = self.next_non_space();
            match &t.tok {
                tok if tok == end => {
                    if pipe.cmds.is_empty() {
                        return self.err(t.pos, format!("missing value for {context}"));
                    }
                    for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                        let first = &c.args[0];
                        if matches!(
                            first.kind,
                            OpKind::Bool(_)
                                | OpKind::Dot
                                | OpKind::Nil
                                | OpKind::Int { .. }
                                | OpKind::Float { .. }
                                | OpKind::Str { .. }
                        ) {
                            return self.err(
                                first.pos,
                                format!("non executable command in pipeline stage {}", i + 1),
                            );
                        }
                    }
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::Char(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str { .. }
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup(1);
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    /// `$x :=`, `$x =`, and in `range` also `$i, $e :=`.
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<(), SyntaxError> {
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.tok else {
                return Ok(());
            };
            let start = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    self.next_non_space();
                    pipe.is_assign = next.tok == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(name) {
                        return self.err(v.pos, format!("undefined variable {name:?}"));
                    }
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    return Ok(());
                }
                Tok::Comma => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        if matches!(self.peek_non_space().tok, Tok::Variable(_)) {
                            continue;
                        }
                        return self.err(next.pos, "range can only initialize variables");
                    }
                    return self.err(next.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = start;
                    return Ok(());
                }
            }
        }
    }

    fn command(&mut self) -> Result<Cmd, SyntaxError> {
        let mut cmd = Cmd { args: Vec::new() };
        let start = self.peek_non_space().pos;
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(1),
                Tok::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err(start, "empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Operand>, SyntaxError> {
        let Some(node) = self.term()? else { return Ok(None) };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        while let Tok::Field(name) = self.peek().tok.clone() {
            fields.push(name);
            self.next();
        }
        let pos = node.pos;
        let kind = match node.kind {
            OpKind::Field(mut names) => {
                names.extend(fields);
                OpKind::Field(names)
            }
            OpKind::Variable(v, mut names) => {
                names.extend(fields);
                OpKind::Variable(v, names)
            }
            OpKind::Bool(_)
            | OpKind::Str { .. }
            | OpKind::Int { .. }
            | OpKind::Float { .. }
            | OpKind::Nil
            | OpKind::Dot => {
                return self.err(pos, format!("unexpected . after term {:?}", node.to_string()));
            }
            _ => OpKind::Chain(Box::new(node), fields),
        };
        Ok(Some(Operand { pos, kind }))
    }

    fn term(&mut self) -> Result<Option<Operand>, SyntaxError> {
        let t = self.next_non_space();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Ident(name) => {
                if !funcs::is_builtin(&name) {
                    return self.err(pos, format!("function {name:?} not defined"));
                }
                OpKind::Func(name)
            }
            Tok::Dot => OpKind::Dot,
            Tok::Nil => OpKind::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.err(pos, format!("undefined variable {name:?}"));
                }
                OpKind::Variable(name, Vec::new())
            }
            Tok::Field(name) => OpKind::Field(vec![name]),
            Tok::Bool(b) => OpKind::Bool(b),
            Tok::Number(text) => number(&text).map_err(|message| SyntaxError { pos, message })?,
            Tok::Char(text) => {
                let body = &text[1..text.len() - 1];
                let s = super::strconv::unquote(body, '\'').map_err(|m| SyntaxError { pos, message: m })?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => OpKind::Int {
                        value: i64::from(u32::from(c)),
                        text,
                    },
                    _ => return self.err(pos, format!("malformed character constant: {text}")),
                }
            }
            Tok::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen)?;
                self.depth -= 1;
                OpKind::Pipe(Box::new(pipe))
            }
            Tok::Str { value, text } => OpKind::Str { value, text },
            _ => {
                self.backup(1);
                return Ok(None);
            }
        };
        Ok(Some(Operand { pos, kind }))
    }
}

fn keyword_name(k: Keyword) -> &'static str {
    match k {
        Keyword::Block => "block",
        Keyword::Break => "break",
        Keyword::Continue => "continue",
        Keyword::Define => "define",
        Keyword::Else => "else",
        Keyword::End => "end",
        Keyword::If => "if",
        Keyword::Range => "range",
        Keyword::Template => "template",
        Keyword::With => "with",
    }
}

/// A number literal as Go's template evaluates it where any type is accepted: an `int` unless
/// the text is a float literal (has `.`, an exponent, and is not a hex integer).
fn number(text: &str) -> Result<OpKind, String> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let lower = digits.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    let looks_float = if is_hex {
        lower.contains(['.', 'p'])
    } else {
        lower.contains(['.', 'e'])
    };
    let bad = || format!("illegal number syntax: {text:?}");
    if !looks_float {
        let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
            (16, b)
        } else if let Some(b) = lower.strip_prefix("0o") {
            (8, b)
        } else if let Some(b) = lower.strip_prefix("0b") {
            (2, b)
        } else if lower.len() > 1 && lower.starts_with('0') {
            (8, &lower[1..])
        } else {
            (10, lower.as_str())
        };
        if body.is_empty() {
            return Err(bad());
        }
        let mag = u64::from_str_radix(body, radix).map_err(|_| format!("{text} overflows int"))?;
        let value = if neg {
            0i64.checked_sub_unsigned(mag)
                .ok_or_else(|| format!("{text} overflows int"))?
        } else {
            i64::try_from(mag).map_err(|_| format!("{text} overflows int"))?
        };
        return Ok(OpKind::Int {
            value,
            text: text.to_string(),
        });
    }
    if is_hex {
        return Err(format!(
            "hexadecimal floating-point literal {text:?} is not supported"
        ));
    }
    let value: f64 = clean.parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(bad());
    }
    Ok(OpKind::Float {
        value,
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::lex::lex;

    fn parse_str(s: &str) -> Result<Vec<Node>, SyntaxError> {
        parse(lex(s)?, s.len())
    }

    fn pipe_of(s: &str) -> String {
        match parse_str(s).unwrap().first() {
            Some(Node::Action(p)) => p.to_string(),
            other => panic!("not an action: {other:?}"),
        }
    }

    #[test]
    fn pipelines_print_back() {
        assert_eq!(pipe_of("{{ .A.B | printf \"%d\" 3 }}"), ".A.B | printf \"%d\" 3");
        assert_eq!(pipe_of("{{$x := (len .L).Y}}"), "$x := (len .L).Y");
    }

    #[test]
    fn numbers() {
        assert!(matches!(number("0x1F"), Ok(OpKind::Int { value: 31, .. })));
        assert!(matches!(number("010"), Ok(OpKind::Int { value: 8, .. })));
        assert!(matches!(number("-1_000"), Ok(OpKind::Int { value: -1000, .. })));
        assert!(matches!(number("1e3"), Ok(OpKind::Float { value, .. }) if value == 1000.0));
        assert!(number("99999999999999999999").is_err());
    }

    #[test]
    fn syntax_errors() {
        let msg = |s: &str| parse_str(s).unwrap_err().message;
        assert_eq!(msg("{{foo}}"), "function \"foo\" not defined");
        assert_eq!(msg("{{$x}}"), "undefined variable \"$x\"");
        assert_eq!(msg("{{if .X}}a"), "unexpected EOF");
        assert_eq!(msg("{{end}}"), "unexpected {{end}}");
        assert_eq!(msg("{{else}}"), "unexpected {{else}}");
        assert_eq!(msg("{{}}"), "missing value for command");
        assert_eq!(msg("{{if}}{{end}}"), "missing value for if");
        assert_eq!(msg("{{.X | 3}}"), "non executable command in pipeline stage 2");
        assert_eq!(msg("{{break}}"), "{{break}} outside {{range}}");
        assert_eq!(msg("{{\"a\".X}}"), "unexpected . after term \"\\\"a\\\"\"");
        assert_eq!(
            msg("{{template \"x\"}}"),
            "{{template}} is not supported: a spec field is one template"
        );
    }

    #[test]
    fn variables_are_scoped_to_their_control() {
        assert!(parse_str("{{if $x := 1}}{{$x}}{{else}}{{$x}}{{end}}").is_ok());
        assert!(parse_str("{{if $x := 1}}{{end}}{{$x}}").is_err());
        assert!(parse_str("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let s = format!("{{{{{}1{}}}}}", "(".repeat(200), ")".repeat(200));
        assert!(parse_str(&s).unwrap_err().message.contains("nests deeper"));
    }
}

//! The tree a parsed template is: text, actions and control structures over pipelines of
//! commands; each node prints back as Go's `String()` does, for error messages.

use std::fmt;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Break,
    Continue,
}

/// The pipeline and bodies of an `if`, `range` or `with`.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    pub pos: usize,
    /// Variables declared (`$x :=`) or assigned (`$x =`), with `$`.
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cmd {
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone)]
pub(crate) struct Operand {
    pub pos: usize,
    pub kind: OpKind,
}

#[derive(Debug, Clone)]
pub(crate) enum OpKind {
    Dot,
    Nil,
    Bool(bool),
    Int {
        value: i64,
        text: String,
    },
    Float {
        value: f64,
        text: String,
    },
    Str {
        value: String,
        text: String,
    },
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B`: the variable and the fields after it.
    Variable(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
    /// `(pipe).A.B` and the like.
    Chain(Box<Operand>, Vec<String>),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OpKind::Dot => f.write_str("."),
            OpKind::Nil => f.write_str("nil"),
            OpKind::Bool(b) => write!(f, "{b}"),
            OpKind::Int { text, .. } | OpKind::Float { text, .. } | OpKind::Str { text, .. } => {
                f.write_str(text)
            }
            OpKind::Field(names) => names.iter().try_for_each(|n| write!(f, ".{n}")),
            OpKind::Variable(v, names) => {
                f.write_str(v)?;
                names.iter().try_for_each(|n| write!(f, ".{n}"))
            }
            OpKind::Func(name) => f.write_str(name),
            OpKind::Pipe(p) => write!(f, "({p})"),
            OpKind::Chain(node, names) => {
                write!(f, "{node}")?;
                names.iter().try_for_each(|n| write!(f, ".{n}"))
            }
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

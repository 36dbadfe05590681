//! Evaluator for parsed templates: walks the tree against a JSON environment with Go's rules —
//! a missing key is "no value" (printed `<no value>`, passed to functions as nil), `if`/`with`
//! use Go's truth, `range` walks lists in order and maps in sorted key order, variables live
//! until the `{{end}}` of the control that declared them.

use serde_json::{Number, Value};

use super::ast::{Branch, Cmd, Node, OpKind, Operand, Pipe};
use super::funcs::{self, CallError};
use super::gofmt::{self, num, type_name, Num, NIL};
use super::{position, TemplateError};

/// Most bytes one rendering may produce.
pub(crate) const MAX_OUTPUT: usize = 4 << 20;
/// Most nodes and iterations one rendering may walk.
pub(crate) const MAX_STEPS: u64 = 1_000_000;

/// A value during evaluation. `Missing` is Go's invalid `reflect.Value`: what a missing map key
/// (or a null, once a pipeline stage is done with it) evaluates to.
#[derive(Debug, Clone)]
pub(crate) enum Val<'e> {
    Missing,
    Ref(&'e Value),
    Own(Value),
}

impl<'e> Val<'e> {
    fn as_value(&self) -> Option<&Value> {
        match self {
            Val::Missing => None,
            Val::Ref(v) => Some(v),
            Val::Own(v) => Some(v),
        }
    }

    /// The value as a function argument: missing becomes nil.
    fn or_nil(&self) -> &Value {
        self.as_value().unwrap_or(&NIL)
    }

    /// What Go's `evalPipeline` does to a stage's result: a nil interface becomes invalid.
    fn normalize(self) -> Self {
        match self.as_value() {
            Some(Value::Null) => Val::Missing,
            _ => self,
        }
    }

    fn truth(&self) -> bool {
        self.as_value().is_some_and(funcs::truth)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

type Items<'e> = Box<dyn Iterator<Item = (Val<'e>, Val<'e>)> + 'e>;

/// Renders `nodes` (parsed from `src`) against `env`.
pub(crate) fn execute(src: &str, nodes: &[Node], env: &Value) -> Result<String, TemplateError> {
    let root = if env.is_null() {
        Val::Missing
    } else {
        Val::Ref(env)
    };
    let mut ex = Exec {
        src,
        vars: vec![("$", root.clone())],
        out: String::new(),
        steps: 0,
    };
    ex.walk(&root, nodes)?;
    Ok(ex.out)
}

struct Exec<'t, 'e> {
    src: &'t str,
    vars: Vec<(&'t str, Val<'e>)>,
    out: String,
    steps: u64,
}

impl<'t, 'e> Exec<'t, 'e> {
    fn fail(&self, pos: usize, context: impl ToString, message: impl Into<String>) -> TemplateError {
        TemplateError::Exec {
            pos: position(self.src, pos),
            context: context.to_string(),
            message: message.into(),
        }
    }

    fn fail_at(&self, op: &Operand, message: impl Into<String>) -> TemplateError {
        self.fail(op.pos, op, message)
    }

    fn write(&mut self, s: &str) -> Result<(), TemplateError> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(TemplateError::Limit(format!(
                "rendered output exceeds {MAX_OUTPUT} bytes"
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn step(&mut self) -> Result<(), TemplateError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(TemplateError::Limit(format!(
                "rendering takes more than {MAX_STEPS} steps"
            )));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Val<'e>, nodes: &'t [Node]) -> Result<Flow, TemplateError> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(s) => self.write(s)?,
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let s = match v.as_value() {
                            None => "<no value>".to_string(),
                            Some(v) => gofmt::sprint_one(v),
                        };
                        self.write(&s)?;
                    }
                }
                Node::If(b) | Node::With(b) => {
                    let with = matches!(node, Node::With(_));
                    let mark = self.vars.len();
                    let v = self.eval_pipeline(dot, &b.pipe)?;
                    let flow = if v.truth() {
                        if with {
                            self.walk(&v, &b.list)?
                        } else {
                            self.walk(dot, &b.list)?
                        }
                    } else if let Some(list) = &b.else_list {
                        self.walk(dot, list)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.walk_range(dot, b)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_range(&mut self, dot: &Val<'e>, b: &'t Branch) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let mut ran = false;
        if let Some(items) = self.range_items(&b.pipe, val)? {
            for (index, elem) in items {
                ran = true;
                self.step()?;
                if self.iterate(b, body_mark, index, elem)? == Flow::Break {
                    break;
                }
            }
        }
        if !ran {
            if let Some(list) = &b.else_list {
                self.walk(dot, list)?;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    /// What `range` iterates: (index or key, element) pairs; `None` for no value.
    fn range_items(&self, pipe: &Pipe, val: Val<'e>) -> Result<Option<Items<'e>>, TemplateError> {
        let count = |n: u64| -> Result<Option<Items<'e>>, TemplateError> {
            if pipe.decl.len() > 1 {
                return Err(self.fail(
                    pipe.pos,
                    pipe,
                    format!("can't use {n} to iterate over more than one variable"),
                ));
            }
            Ok(Some(Box::new(
                (0..n).map(|i| (Val::Own(Value::from(i)), Val::Own(Value::from(i)))),
            )))
        };
        let scalar = |v: &Value| -> Result<Option<Items<'e>>, TemplateError> {
            if let Value::Number(n) = v {
                match num(n) {
                    Num::Int(i) => return count(u64::try_from(i).unwrap_or(0)),
                    Num::Uint(u) => return count(u),
                    Num::Float(_) => {}
                }
            }
            Err(self.fail(
                pipe.pos,
                pipe,
                format!("range can't iterate over {}", gofmt::sprint_one(v)),
            ))
        };
        Ok(match val {
            Val::Missing => None,
            Val::Ref(Value::Array(a)) => Some(Box::new(
                a.iter()
                    .enumerate()
                    .map(|(i, e)| (Val::Own(Value::from(i)), Val::Ref(e))),
            )),
            Val::Own(Value::Array(a)) => Some(Box::new(
                a.into_iter()
                    .enumerate()
                    .map(|(i, e)| (Val::Own(Value::from(i)), Val::Own(e))),
            )),
            Val::Ref(Value::Object(m)) => {
                let mut entries: Vec<(&'e String, &'e Value)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Some(Box::new(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Val::Own(Value::String(k.clone())), Val::Ref(v))),
                ))
            }
            Val::Own(Value::Object(m)) => {
                let mut entries: Vec<(String, Value)> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Some(Box::new(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Val::Own(Value::String(k)), Val::Own(v))),
                ))
            }
            Val::Ref(v) => scalar(v)?,
            Val::Own(v) => scalar(&v)?,
        })
    }

    fn iterate(
        &mut self,
        b: &'t Branch,
        body_mark: usize,
        index: Val<'e>,
        elem: Val<'e>,
    ) -> Result<Flow, TemplateError> {
        let pipe = &b.pipe;
        let n = pipe.decl.len();
        if n > 0 {
            if pipe.is_assign {
                let first = if n > 1 { index.clone() } else { elem.clone() };
                self.set_var(&pipe.decl[0], first, pipe)?;
                if n > 1 {
                    self.set_var(&pipe.decl[1], elem.clone(), pipe)?;
                }
            } else {
                self.set_top_var(1, elem.clone());
                if n > 1 {
                    self.set_top_var(2, index);
                }
            }
        }
        let flow = self.walk(&elem, &b.list)?;
        self.vars.truncate(body_mark);
        Ok(flow)
    }

    fn var_value(&self, name: &str, op: &Operand) -> Result<Val<'e>, TemplateError> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.fail_at(op, format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, val: Val<'e>, pipe: &Pipe) -> Result<(), TemplateError> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = val;
                Ok(())
            }
            None => Err(self.fail(pipe.pos, pipe, format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, val: Val<'e>) {
        let i = self.vars.len() - n;
        self.vars[i].1 = val;
    }

    fn eval_pipeline(&mut self, dot: &Val<'e>, pipe: &'t Pipe) -> Result<Val<'e>, TemplateError> {
        let mut value: Option<Val<'e>> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.normalize());
        }
        let value = value.unwrap_or(Val::Missing);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe)?;
            } else {
                self.vars.push((name.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &Cmd, fin: &Option<Val<'e>>) -> Result<(), TemplateError> {
        if cmd.args.len() > 1 || fin.is_some() {
            let first = &cmd.args[0];
            return Err(self.fail_at(first, format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    /// Runs one pipeline stage; `fin` is the previous stage's result, passed as the last argument.
    fn eval_command(
        &mut self,
        dot: &Val<'e>,
        cmd: &'t Cmd,
        fin: Option<Val<'e>>,
    ) -> Result<Val<'e>, TemplateError> {
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match &first.kind {
            OpKind::Field(names) => self.eval_fields(dot.clone(), first, names, has_args),
            OpKind::Chain(node, names) => {
                let recv = self.eval_arg(dot, node)?;
                self.eval_fields(recv, first, names, has_args)
            }
            OpKind::Variable(name, names) => {
                let v = self.var_value(name, first)?;
                if names.is_empty() {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.eval_fields(v, first, names, has_args)
            }
            OpKind::Func(name) => self.eval_function(dot, name, first, Some(cmd), fin),
            OpKind::Pipe(p) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_pipeline(dot, p)
            }
            OpKind::Nil => Err(self.fail_at(first, "nil is not a command")),
            _ => {
                self.not_a_function(cmd, &fin)?;
                Ok(literal(dot, first))
            }
        }
    }

    /// Evaluates an operand used as a function argument.
    fn eval_arg(&mut self, dot: &Val<'e>, op: &'t Operand) -> Result<Val<'e>, TemplateError> {
        match &op.kind {
            OpKind::Field(names) => self.eval_fields(dot.clone(), op, names, false),
            OpKind::Variable(name, names) => {
                let v = self.var_value(name, op)?;
                self.eval_fields(v, op, names, false)
            }
            OpKind::Pipe(p) => self.eval_pipeline(dot, p),
            OpKind::Func(name) => self.eval_function(dot, name, op, None, None),
            OpKind::Chain(node, names) => {
                let recv = self.eval_arg(dot, node)?;
                self.eval_fields(recv, op, names, false)
            }
            OpKind::Nil => Ok(Val::Own(Value::Null)),
            _ => Ok(literal(dot, op)),
        }
    }

    fn eval_fields(
        &self,
        recv: Val<'e>,
        op: &Operand,
        names: &[String],
        has_args: bool,
    ) -> Result<Val<'e>, TemplateError> {
        let mut r = recv;
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            r = self.eval_field(r, name, op, has_args && last)?;
        }
        Ok(r)
    }

    fn eval_field(
        &self,
        recv: Val<'e>,
        name: &str,
        op: &Operand,
        has_args: bool,
    ) -> Result<Val<'e>, TemplateError> {
        let not_method = || self.fail_at(op, format!("{name} is not a method but has arguments"));
        match recv {
            Val::Missing => Ok(Val::Missing),
            Val::Ref(Value::Object(m)) => {
                if has_args {
                    return Err(not_method());
                }
                Ok(m.get(name).map_or(Val::Missing, Val::Ref))
            }
            Val::Own(Value::Object(mut m)) => {
                if has_args {
                    return Err(not_method());
                }
                Ok(m.swap_remove(name).map_or(Val::Missing, Val::Own))
            }
            other => {
                let v = other.or_nil();
                if v.is_null() {
                    Err(self.fail_at(op, format!("nil pointer evaluating interface {{}}.{name}")))
                } else {
                    Err(self.fail_at(
                        op,
                        format!("can't evaluate field {name} in type {}", type_name(v)),
                    ))
                }
            }
        }
    }

    /// Calls function `name`; `cmd` is the command it heads (its arguments follow the name), if any.
    fn eval_function(
        &mut self,
        dot: &Val<'e>,
        name: &str,
        op: &'t Operand,
        cmd: Option<&'t Cmd>,
        fin: Option<Val<'e>>,
    ) -> Result<Val<'e>, TemplateError> {
        let args: &'t [Operand] = cmd.map_or(&[], |c| &c.args[1..]);
        let fail = |ex: &Self, m: String| match cmd {
            Some(c) => ex.fail(op.pos, c, m),
            None => ex.fail_at(op, m),
        };
        if name == "and" || name == "or" {
            // Short-circuit: the first false (and) or true (or) argument, else the last.
            if args.is_empty() && fin.is_none() {
                return Err(self.fail_at(
                    op,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let stop_on = name == "or";
            let mut v = Val::Missing;
            for a in args {
                v = self.eval_arg(dot, a)?;
                if v.truth() == stop_on {
                    return Ok(v);
                }
            }
            return Ok(fin.unwrap_or(v));
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        vals.extend(fin);
        let refs: Vec<&Value> = vals.iter().map(Val::or_nil).collect();
        match funcs::call(name, &refs) {
            Ok(v) => Ok(Val::Own(v)),
            Err(CallError::Arity(m)) => Err(fail(self, m)),
            Err(CallError::Failed(m)) => Err(fail(self, format!("error calling {name}: {m}"))),
        }
    }
}

/// A literal operand (or `.`) as a value.
fn literal<'e>(dot: &Val<'e>, op: &Operand) -> Val<'e> {
    match &op.kind {
        OpKind::Dot => dot.clone(),
        OpKind::Bool(b) => Val::Own(Value::Bool(*b)),
        OpKind::Int { value, .. } => Val::Own(Value::from(*value)),
        OpKind::Float { value, .. } => Val::Own(Number::from_f64(*value).map_or(Value::Null, Value::Number)),
        OpKind::Str { value, .. } => Val::Own(Value::String(value.clone())),
        _ => Val::Missing,
    }
}

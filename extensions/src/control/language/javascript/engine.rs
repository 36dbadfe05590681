//! One QuickJS runtime with the snippet's module evaluated in it, living on one thread. The runtime's
//! interrupt handler reads a [`Watch`]: the deadline and cancel flag of the job being run, and the
//! program's closed flag. A `console` object (`log`, `info`, `debug`, `warn`, `error`) writes to the
//! host's log.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::function::{Func, Rest, This};
use rquickjs::{
    CatchResultExt, CaughtError, Coerced, Context, Ctx, Function, Module, Object, Persistent, Promise,
    Runtime,
};
use weir_engine::{Error, ErrorKind, Value};

use super::convert::{from_js, to_js};
use crate::control::language::{timeout_error, Language};

/// The module's name in stack traces.
pub(super) const MODULE_NAME: &str = "snippet.js";
/// QuickJS's own stack bound (the thread's stack is larger).
pub(super) const MAX_STACK: usize = 2 << 20;
/// The heap bound of one runtime.
const MAX_MEMORY: usize = 256 << 20;

/// Why a script was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Timeout,
    Cancelled,
    Closed,
}

/// What stops the script running now.
pub(super) struct Watch {
    deadline: Cell<Option<Instant>>,
    cancel: RefCell<Option<Arc<AtomicBool>>>,
    closed: Arc<AtomicBool>,
    stop: Cell<Option<Stop>>,
}

impl Watch {
    pub(super) fn new(closed: Arc<AtomicBool>) -> Rc<Self> {
        Rc::new(Watch {
            deadline: Cell::new(None),
            cancel: RefCell::new(None),
            closed,
            stop: Cell::new(None),
        })
    }

    /// Sets the deadline and cancel flag of the next run.
    pub(super) fn arm(&self, deadline: Option<Instant>, cancel: Option<Arc<AtomicBool>>) {
        self.deadline.set(deadline);
        *self.cancel.borrow_mut() = cancel;
        self.stop.set(None);
    }

    pub(super) fn disarm(&self) {
        self.deadline.set(None);
        *self.cancel.borrow_mut() = None;
    }

    /// Why the current run was stopped, if it was.
    fn stopped(&self) -> Option<Stop> {
        self.stop.get()
    }

    /// Called by QuickJS now and then while a script runs: true stops the script.
    fn interrupt(&self) -> bool {
        let stop = if self.closed.load(Ordering::Relaxed) {
            Some(Stop::Closed)
        } else if self
            .cancel
            .borrow()
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            Some(Stop::Cancelled)
        } else if self.deadline.get().is_some_and(|d| Instant::now() >= d) {
            Some(Stop::Timeout)
        } else {
            None
        };
        if stop.is_some() {
            self.stop.set(stop);
        }
        stop.is_some()
    }
}

/// Why a run (or building the engine) failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The script threw, or the module is not valid: the message says what and where.
    Script(String),
    /// A value could not cross between JavaScript and weir.
    Convert(Error),
    Stopped(Stop),
    /// `null` was thrown: QuickJS does so when the heap reaches [`MAX_MEMORY`] (a script may too).
    OutOfMemory,
    Internal(String),
    Panic,
}

impl Failure {
    pub(super) fn into_error(self, timeout: Duration) -> Error {
        match self {
            Failure::Script(m) => Error::node(m),
            Failure::Convert(e) => e,
            Failure::Stopped(Stop::Timeout) => timeout_error(Language::Javascript, timeout),
            Failure::Stopped(Stop::Cancelled) => {
                Error::new(ErrorKind::Cancelled, "the script was stopped: its caller left")
            }
            Failure::Stopped(Stop::Closed) => {
                Error::new(ErrorKind::Closed, "the script was stopped: its node was unloaded")
            }
            Failure::OutOfMemory => Error::node(format!(
                "the script ran out of memory (a snippet may use {} MiB) or threw null",
                MAX_MEMORY >> 20
            )),
            Failure::Internal(m) => Error::new(ErrorKind::Internal, format!("JavaScript engine: {m}")),
            Failure::Panic => Error::new(ErrorKind::Panic, "the JavaScript engine panicked"),
        }
    }
}

impl From<rquickjs::Error> for Failure {
    fn from(e: rquickjs::Error) -> Self {
        Failure::Internal(e.to_string())
    }
}

/// What a call gave: a value, or a generator whose values went to the sink one by one.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    Value(Value),
    Streamed,
}

/// Tells a generator object from any other value.
const IS_GENERATOR: &str = "(v) => { const t = Object.prototype.toString.call(v); return t === '[object Generator]' || t === '[object AsyncGenerator]' }";

/// A runtime with the module evaluated and its default export at hand.
pub(super) struct Engine {
    // Field order is drop order: the functions before their context, the context before its runtime.
    func: Persistent<Function<'static>>,
    is_generator: Persistent<Function<'static>>,
    context: Context,
    _runtime: Runtime,
    watch: Rc<Watch>,
}

impl Engine {
    /// Builds a runtime and evaluates `code` in it, under the watch's current deadline.
    pub(super) fn new(code: &str, watch: Rc<Watch>) -> Result<Self, Failure> {
        let runtime = Runtime::new()?;
        runtime.set_memory_limit(MAX_MEMORY);
        runtime.set_max_stack_size(MAX_STACK);
        let w = watch.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || w.interrupt())));
        let context = Context::full(&runtime)?;
        let (func, is_generator) = context.with(|ctx| -> Result<_, Failure> {
            install_console(&ctx)?;
            let declared = Module::declare(ctx.clone(), MODULE_NAME, code)
                .catch(&ctx)
                .map_err(|e| fail(&watch, &ctx, e))?;
            let (module, done) = declared.eval().catch(&ctx).map_err(|e| fail(&watch, &ctx, e))?;
            settle(&ctx, &watch, done)?;
            let default: rquickjs::Value = module.namespace()?.get("default")?;
            let Some(f) = default.into_function() else {
                return Err(Failure::Script(
                    "the module has no default export function: write `export default function (args) { ... }`".into(),
                ));
            };
            let is_generator: Function = ctx.eval(IS_GENERATOR)?;
            Ok((Persistent::save(&ctx, f), Persistent::save(&ctx, is_generator)))
        })?;
        Ok(Engine {
            func,
            is_generator,
            context,
            _runtime: runtime,
            watch,
        })
    }

    /// Calls the default export with `input` (with the elements of a list as its arguments when
    /// `spread`), awaiting a returned promise. A returned generator (sync or async) is run to its
    /// end: each yielded value goes to `sink` as it is produced (a sink that answers `false` stops
    /// the script: its reader left), or, with no sink, the values are gathered into a list. After a
    /// [`Failure::Stopped`] or [`Failure::OutOfMemory`] the engine should be thrown away.
    pub(super) fn call(
        &self,
        input: &Value,
        spread: bool,
        sink: Option<&mut dyn FnMut(Value) -> bool>,
    ) -> Result<Outcome, Failure> {
        self.context.with(|ctx| {
            let f = self.func.clone().restore(&ctx)?;
            let args = match (spread, input) {
                (true, Value::List(items)) => items
                    .iter()
                    .map(|v| to_js(&ctx, v))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Failure::Convert)?,
                _ => vec![to_js(&ctx, input).map_err(Failure::Convert)?],
            };
            let out: rquickjs::Value = f
                .call((Rest(args),))
                .catch(&ctx)
                .map_err(|e| fail(&self.watch, &ctx, e))?;
            let out = match out.as_promise() {
                Some(p) => settle(&ctx, &self.watch, p.clone())?,
                None => out,
            };
            let is_generator: bool = self.is_generator.clone().restore(&ctx)?.call((out.clone(),))?;
            let outcome = if is_generator {
                self.drain(&ctx, out, sink)?
            } else {
                Outcome::Value(from_js(&ctx, out).map_err(Failure::Convert)?)
            };
            // Reactions the call queued but did not wait for run now, not during the next call.
            while ctx.execute_pending_job() {
                if let Some(stop) = self.watch.stopped() {
                    return Err(Failure::Stopped(stop));
                }
            }
            Ok(outcome)
        })
    }

    /// Runs a generator to its end, handing each yielded value to `sink` (or gathering them).
    fn drain<'js>(
        &self,
        ctx: &Ctx<'js>,
        generator: rquickjs::Value<'js>,
        mut sink: Option<&mut dyn FnMut(Value) -> bool>,
    ) -> Result<Outcome, Failure> {
        let Some(object) = generator.as_object() else {
            return Err(Failure::Internal("a generator that is not an object".into()));
        };
        let next: Function = object.get("next")?;
        let mut gathered = Vec::new();
        loop {
            if let Some(stop) = self.watch.stopped() {
                return Err(Failure::Stopped(stop));
            }
            let step: rquickjs::Value = next
                .call((This(object.clone()),))
                .catch(ctx)
                .map_err(|e| fail(&self.watch, ctx, e))?;
            let step = match step.as_promise() {
                Some(p) => settle(ctx, &self.watch, p.clone())?,
                None => step,
            };
            let Some(step) = step.as_object() else {
                return Err(Failure::Script("a generator step is not an object".into()));
            };
            if step.get::<_, Option<bool>>("done")?.unwrap_or(false) {
                break;
            }
            let value = from_js(ctx, step.get("value")?).map_err(Failure::Convert)?;
            match sink.as_mut() {
                Some(sink) => {
                    if !sink(value) {
                        return Err(Failure::Stopped(Stop::Cancelled));
                    }
                }
                None => gathered.push(value),
            }
        }
        Ok(match sink {
            Some(_) => Outcome::Streamed,
            None => Outcome::Value(Value::from(gathered)),
        })
    }
}

/// Runs the job queue until `promise` settles.
fn settle<'js>(
    ctx: &Ctx<'js>,
    watch: &Watch,
    promise: Promise<'js>,
) -> Result<rquickjs::Value<'js>, Failure> {
    loop {
        if let Some(stop) = watch.stopped() {
            return Err(Failure::Stopped(stop));
        }
        if let Some(result) = promise.result::<rquickjs::Value>() {
            return result.catch(ctx).map_err(|e| fail(watch, ctx, e));
        }
        if !ctx.execute_pending_job() {
            return Err(Failure::Script(
                "the returned promise never settled (nothing is left that could settle it)".into(),
            ));
        }
    }
}

/// A caught error as a failure: stopped from outside, or the script's own error described.
fn fail<'js>(watch: &Watch, ctx: &Ctx<'js>, e: CaughtError<'js>) -> Failure {
    if let Some(stop) = watch.stopped() {
        return Failure::Stopped(stop);
    }
    match e {
        CaughtError::Exception(ex) => {
            let obj = ex.as_object();
            let name: Option<String> = obj.get("name").ok().flatten();
            let mut text = match (name, ex.message()) {
                (Some(n), Some(m)) if !m.is_empty() => format!("{n}: {m}"),
                (Some(n), _) => n,
                (None, Some(m)) => m,
                (None, None) => "an error was thrown".into(),
            };
            if let Some(at) = ex.stack().as_deref().and_then(location) {
                text.push_str(&format!(" (at {at})"));
            }
            Failure::Script(text)
        }
        CaughtError::Value(v) if v.is_null() => Failure::OutOfMemory,
        CaughtError::Value(v) => match from_js(ctx, v) {
            Ok(Value::String(s)) => Failure::Script(s.to_string()),
            Ok(other) => Failure::Script(format!("uncaught {other}")),
            Err(_) => Failure::Script("an unconvertible value was thrown".into()),
        },
        CaughtError::Error(e) => Failure::Internal(e.to_string()),
    }
}

/// `line L, column C` of the first frame in the module, from a QuickJS stack trace.
fn location(stack: &str) -> Option<String> {
    let start = stack.find(MODULE_NAME)? + MODULE_NAME.len();
    let rest = stack[start..].strip_prefix(':')?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ':'))
        .unwrap_or(rest.len());
    let mut parts = rest[..end].split(':').filter(|p| !p.is_empty());
    let line = parts.next()?;
    Some(match parts.next() {
        Some(col) => format!("line {line}, column {col}"),
        None => format!("line {line}"),
    })
}

/// `console.log` and friends, writing to the host's log.
fn install_console(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let console = Object::new(ctx.clone())?;
    console.set(
        "log",
        Func::from(|args: Rest<Coerced<String>>| tracing::info!(target: "weir::snippet", "{}", join(args))),
    )?;
    console.set(
        "info",
        Func::from(|args: Rest<Coerced<String>>| tracing::info!(target: "weir::snippet", "{}", join(args))),
    )?;
    console.set(
        "debug",
        Func::from(|args: Rest<Coerced<String>>| tracing::debug!(target: "weir::snippet", "{}", join(args))),
    )?;
    console.set(
        "warn",
        Func::from(|args: Rest<Coerced<String>>| tracing::warn!(target: "weir::snippet", "{}", join(args))),
    )?;
    console.set(
        "error",
        Func::from(|args: Rest<Coerced<String>>| tracing::error!(target: "weir::snippet", "{}", join(args))),
    )?;
    ctx.globals().set("console", console)?;
    Ok(())
}

fn join(args: Rest<Coerced<String>>) -> String {
    args.0.into_iter().map(|c| c.0).collect::<Vec<_>>().join(" ")
}

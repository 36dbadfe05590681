//! Tests of the languages themselves: constants, CEL and JavaScript programs, value conversion both
//! ways, and the JavaScript worker pool (interrupts, cancellation, idle workers).

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use weir_engine::{ErrorKind, Process, Value};

use super::*;

fn opts(timeout_ms: Option<u64>) -> Options {
    Options {
        timeout: timeout_ms.map(Duration::from_millis),
    }
}

async fn run(language: &str, code: &str, input: Value) -> Result<Value> {
    let program = compile(language, code, &Options::default()).expect("compiles");
    let p = Process::new();
    let out = program.run(&p, input).await;
    p.exit(None);
    out
}

fn sample() -> Value {
    Value::map([
        ("int", Value::Int(-42)),
        ("big", Value::Int(1 << 60)),
        ("huge", Value::Uint(u64::MAX)),
        ("float", Value::Float(1.5)),
        ("text", Value::from("héllo")),
        ("yes", Value::Bool(true)),
        ("nothing", Value::Null),
        (
            "list",
            Value::list([Value::Int(1), Value::from("two"), Value::list([])]),
        ),
        ("map", Value::map([("z", Value::Int(1)), ("a", Value::Int(2))])),
    ])
}

#[test]
fn languages_by_name() {
    for name in LANGUAGES {
        assert_eq!(Language::from_name(name).map(Language::name), Some(name));
    }
    assert_eq!(Language::from_name("JavaScript"), None);
    let err = compile("cobol", "", &Options::default()).unwrap_err();
    assert_eq!(err.field(), "language");
    assert_eq!(err.to_string(), "unknown language \"cobol\"");
}

#[tokio::test]
async fn constants() {
    assert_eq!(run("text", "pong", Value::Null).await, Ok(Value::from("pong")));
    assert_eq!(
        run("json", r#"{"a": [1, 2.5, "x", null, true]}"#, Value::Null).await,
        Ok(Value::from(json!({"a": [1, 2.5, "x", null, true]})))
    );
    assert_eq!(
        run("yaml", "a: 1\nb: [x, y]\nport: '8000'\non: yes\n", Value::Null).await,
        Ok(Value::from(
            json!({"a": 1, "b": ["x", "y"], "port": "8000", "on": "yes"})
        ))
    );
    assert_eq!(run("yaml", "", Value::Null).await, Ok(Value::Null));
    let err = compile("json", "{nope", &Options::default()).unwrap_err();
    assert_eq!(err.field(), "code");
    assert!(err.to_string().starts_with("invalid JSON"), "{err}");
    let err = compile("yaml", "a: [1", &Options::default()).unwrap_err();
    assert!(err.to_string().starts_with("invalid YAML"), "{err}");
}

#[tokio::test]
async fn cel_binds_self_and_converts_faithfully() {
    assert_eq!(
        run("cel", "self", sample()).await.map(|v| v.get("huge").cloned()),
        Ok(Some(Value::Uint(u64::MAX)))
    );
    assert_eq!(run("cel", "self.int + 1", sample()).await, Ok(Value::Int(-41)));
    assert_eq!(
        run("cel", "self.float * 2.0", sample()).await,
        Ok(Value::Float(3.0))
    );
    assert_eq!(
        run("cel", "self.text.upperAscii()", sample()).await,
        Ok(Value::from("HéLLO"))
    );
    assert_eq!(
        run(
            "cel",
            "{'b': self.list.size(), 'a': [self.yes, self.nothing]}",
            sample()
        )
        .await,
        Ok(Value::from(json!({"a": [true, null], "b": 3})))
    );
    assert_eq!(
        run("cel", "b'abc'", Value::Null).await,
        Ok(Value::Bytes(bytes::Bytes::from_static(b"abc")))
    );
    // A map comes back with its keys sorted (CEL maps have no order).
    let out = run("cel", "self.map", sample()).await.expect("runs");
    let keys: Vec<_> = out.as_map().expect("a map").keys().cloned().collect();
    assert_eq!(keys, ["a", "z"]);
}

#[tokio::test]
async fn cel_errors() {
    let err = run("cel", "self.missing + 1", sample()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert!(err.message().contains("missing"), "{err}");
    let err = compile("cel", "self.", &Options::default()).unwrap_err();
    assert_eq!(err.field(), "code");
    assert!(err.to_string().starts_with("invalid CEL expression"), "{err}");
}

#[tokio::test]
async fn cel_gives_up_at_its_deadline() {
    // Quadratic work over 1500 items: far longer than 20 ms.
    let program = compile("cel", "self.all(x, self.exists(y, y == x))", &opts(Some(20))).expect("compiles");
    let input = Value::list((0..1500).map(Value::from));
    let p = Process::new();
    let started = Instant::now();
    let err = program.run(&p, input).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    p.exit(None);
}

#[tokio::test]
async fn javascript_round_trips_values() {
    let echo = "export default function (args) { return args }";
    assert_eq!(run("javascript", echo, sample()).await, Ok(sample()));
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let bytes = Value::Bytes(bytes::Bytes::from_static(&[0, 1, 255]));
    assert_eq!(run("javascript", echo, Value::Time(t)).await, Ok(Value::Time(t)));
    assert_eq!(run("javascript", echo, bytes.clone()).await, Ok(bytes));
    let code =
        "export default (a) => ({ n: 2 ** 31, f: 0.5, i: 3.0, u: undefined, fn() {}, l: [undefined, 1] })";
    assert_eq!(
        run("javascript", code, Value::Null).await,
        Ok(Value::from(
            json!({"n": 2147483648i64, "f": 0.5, "i": 3, "l": [null, 1]})
        ))
    );
    assert_eq!(
        run("javascript", "export default () => {}", Value::Null).await,
        Ok(Value::Null)
    );
    let err = run("javascript", "export default () => () => 1", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
}

#[tokio::test]
async fn javascript_awaits_promises_and_reports_throws() {
    let code = "export default async function (args) { await null; return args.n * 2 }";
    assert_eq!(
        run("javascript", code, Value::map([("n", Value::Int(21))])).await,
        Ok(Value::Int(42))
    );
    let code = "export default function () {\n  throw new TypeError('boom');\n}";
    let err = run("javascript", code, Value::Null).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert!(err.message().starts_with("TypeError: boom (at line 2"), "{err}");
    let err = run("javascript", "export default () => { throw 'bare' }", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(err.message(), "bare");
    let code = "export default async () => { throw new Error('later') }";
    let err = run("javascript", code, Value::Null).await.unwrap_err();
    assert!(err.message().starts_with("Error: later"), "{err}");
    let code = "export default () => new Promise(() => {})";
    let err = run("javascript", code, Value::Null).await.unwrap_err();
    assert!(err.message().contains("never settled"), "{err}");
}

#[tokio::test]
async fn javascript_has_a_console_and_a_warm_worker() {
    let code =
        "export default function (args) { console.log('got', args, 1); console.error('and'); return args }";
    let program = compile("javascript", code, &Options::default()).expect("compiles");
    let p = Process::new();
    for i in 0..5 {
        assert_eq!(program.run(&p, Value::Int(i)).await, Ok(Value::Int(i)));
    }
    // Calls one after another reuse one worker.
    let Body::Javascript(js) = &program.body else {
        unreachable!()
    };
    assert_eq!(js.workers(), 1);
    p.exit(None);
}

#[test]
fn javascript_compile_errors_name_the_problem() {
    let cases = [
        ("export default function ( {", "SyntaxError"),
        ("export const x = 1;", "no default export function"),
        ("export default 42;", "no default export function"),
        (
            "throw new Error('at load')\nexport default () => 1",
            "Error: at load",
        ),
    ];
    for (code, needle) in cases {
        let err = compile("javascript", code, &Options::default()).unwrap_err();
        assert_eq!(err.field(), "code");
        assert!(err.to_string().contains(needle), "{code:?}: {err}");
    }
    let err = compile(
        "javascript",
        "while (true) {}\nexport default () => 1",
        &opts(Some(100)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("did not finish"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_runaway_is_interrupted_while_others_are_served() {
    let code = "export default function (args) { if (args.spin) { while (true) {} } return 'ok' }";
    let program = compile("javascript", code, &opts(Some(500))).expect("compiles");
    let spin = {
        let program = program.clone();
        tokio::spawn(async move {
            let p = Process::new();
            let started = Instant::now();
            let out = program.run(&p, Value::map([("spin", Value::Bool(true))])).await;
            (out, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let p = Process::new();
    let started = Instant::now();
    assert_eq!(
        program.run(&p, Value::map([("spin", Value::Bool(false))])).await,
        Ok(Value::from("ok"))
    );
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "served while the other spins"
    );
    let (out, took) = spin.await.expect("joins");
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Timeout);
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The interrupted worker rebuilt its runtime and serves again.
    for _ in 0..3 {
        assert_eq!(
            program.run(&p, Value::map([("spin", Value::Bool(false))])).await,
            Ok(Value::from("ok"))
        );
    }
    assert!(program_workers(&program) >= 2);
    p.exit(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_runaway_stops_when_its_process_ends() {
    let program = compile(
        "javascript",
        "export default () => { while (true) {} }",
        &opts(None),
    )
    .expect("compiles");
    let p = Process::new();
    let run = {
        let (program, p) = (program.clone(), p.clone());
        tokio::spawn(async move { program.run(&p, Value::Null).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.cancel();
    let err = run.await.expect("joins").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    // The worker was interrupted and is idle again.
    let Body::Javascript(js) = &program.body else {
        unreachable!()
    };
    assert!(weir_engine::testing::eventually(Duration::from_secs(5), || js.idle() >= 1).await);
}

fn program_workers(program: &Program) -> usize {
    match &program.body {
        Body::Javascript(js) => js.workers(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_workers_leave_when_the_program_is_dropped() {
    let program = compile(
        "javascript",
        "export default () => { while (true) {} }",
        &opts(None),
    )
    .expect("compiles");
    let Body::Javascript(js) = &program.body else {
        unreachable!()
    };
    let workers = js.worker_probe();
    let p = Process::new();
    let run = {
        let (program, p) = (program.clone(), p.clone());
        tokio::spawn(async move { program.run(&p, Value::Null).await })
    };
    assert!(weir_engine::testing::eventually(Duration::from_secs(5), || workers() == 1).await);
    // Unloading drops the program: the spinning script is interrupted and the worker leaves.
    drop(program);
    run.abort();
    assert!(weir_engine::testing::eventually(Duration::from_secs(5), || workers() == 0).await);
    p.exit(None);
}

#[tokio::test]
async fn javascript_limits_memory_and_stack() {
    // Big strings reach the heap limit in a few thousand steps, well within the (generous) deadline
    // even on a busy machine.
    let code = "export default (args) => {\n  if (args.hog) { let a = []; while (true) a.push('x'.repeat(100000) + a.length) }\n  return 'fine'\n}";
    let program = compile("javascript", code, &opts(Some(120_000))).expect("compiles");
    let p = Process::new();
    let err = program
        .run(&p, Value::map([("hog", Value::Bool(true))]))
        .await
        .unwrap_err();
    assert!(err.message().contains("out of memory"), "{err}");
    assert_eq!(
        program.run(&p, Value::map([("hog", Value::Bool(false))])).await,
        Ok(Value::from("fine"))
    );
    let code = "function f() { return f() }\nexport default () => f()";
    let err = run("javascript", code, Value::Null).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("RangeError: Maximum call stack size exceeded"),
        "{err}"
    );
    p.exit(None);
}

/// Every value a streamed run gives, or the error it ends with (after the values before it).
async fn stream_all(program: &Program, input: Value) -> (Vec<Piece>, Option<weir_engine::Error>) {
    use futures::StreamExt;
    let p = Process::new();
    let stream = program.stream(&p, input);
    futures::pin_mut!(stream);
    let mut pieces = Vec::new();
    let mut error = None;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(piece) => pieces.push(piece),
            Err(e) => error = Some(e),
        }
    }
    p.exit(None);
    (pieces, error)
}

#[tokio::test]
async fn a_javascript_generator_streams_its_yields() {
    let code = "export default function* (n) { for (let i = 0; i < n; i++) yield i * 10 }";
    let program = compile("javascript", code, &Options::default()).expect("compiles");
    let (pieces, error) = stream_all(&program, Value::from(3)).await;
    assert_eq!(error, None);
    assert_eq!(
        pieces,
        vec![
            Piece::Yield(Value::from(0)),
            Piece::Yield(Value::from(10)),
            Piece::Yield(Value::from(20))
        ]
    );
    // Run (not streamed), the yields are gathered into a list.
    let p = Process::new();
    assert_eq!(
        program.run(&p, Value::from(2)).await,
        Ok(Value::list([Value::from(0), Value::from(10)]))
    );
    p.exit(None);
    // A plain function streams its one result.
    let plain = compile("javascript", "export default (x) => x + 1", &Options::default()).expect("compiles");
    assert_eq!(
        stream_all(&plain, Value::from(1)).await,
        (vec![Piece::Result(Value::from(2))], None)
    );
}

#[tokio::test]
async fn an_async_javascript_generator_streams_and_a_throw_ends_the_stream() {
    let code = "export default async function* (args) {\n  yield await Promise.resolve('a')\n  yield 'b'\n  throw new Error('stop')\n}";
    let program = compile("javascript", code, &Options::default()).expect("compiles");
    let (pieces, error) = stream_all(&program, Value::Null).await;
    assert_eq!(
        pieces,
        vec![Piece::Yield(Value::from("a")), Piece::Yield(Value::from("b"))]
    );
    let error = error.expect("the throw ends the stream");
    assert_eq!(error.kind(), ErrorKind::Node);
    assert!(error.message().contains("stop"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yield_reaches_the_reader_while_the_script_still_runs() {
    use futures::StreamExt;
    // After its first yield the script never ends on its own: the reader has the first value while
    // the script is still running, so the value was handed over as it was produced, not collected.
    let code = "export default function* () { yield 'first'; while (true) {} }";
    let program = compile("javascript", code, &opts(None)).expect("compiles");
    let p = Process::new();
    let stream = program.stream(&p, Value::Null);
    futures::pin_mut!(stream);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the first yield arrives");
    assert_eq!(first, Some(Ok(Piece::Yield(Value::from("first")))));
    p.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream ends with its process");
    assert_eq!(
        ended.and_then(|r| r.err()).map(|e| e.kind()),
        Some(ErrorKind::Cancelled)
    );
    let Body::Javascript(js) = &program.body else {
        unreachable!()
    };
    assert!(weir_engine::testing::eventually(Duration::from_secs(10), || js.idle() >= 1).await);
}

#[tokio::test]
async fn a_streamed_run_honours_its_timeout() {
    let code = "export default function* () { yield 1; while (true) {} }";
    // Long enough for a fresh worker on a busy machine to reach the first yield.
    let program = compile("javascript", code, &opts(Some(1500))).expect("compiles");
    let (pieces, error) = stream_all(&program, Value::Null).await;
    assert_eq!(pieces, vec![Piece::Yield(Value::from(1))]);
    assert_eq!(error.map(|e| e.kind()), Some(ErrorKind::Timeout));
}

#[tokio::test]
async fn run_args_spreads_into_javascript_and_lists_into_cel() {
    let p = Process::new();
    let js = compile(
        "javascript",
        "export default (a, b, i) => `${a}${b}${i}`",
        &Options::default(),
    )
    .expect("compiles");
    let args = vec![Value::from("x"), Value::from("y"), Value::from(2)];
    assert_eq!(js.run_args(&p, args.clone()).await, Ok(Value::from("xy2")));
    let cel = compile("cel", "self[0] + self[1]", &Options::default()).expect("compiles");
    assert_eq!(cel.run_args(&p, args).await, Ok(Value::from("xy")));
    p.exit(None);
}

#[tokio::test]
async fn typescript_runs_with_its_types_stripped() {
    let code = "interface Args { a: number; tags: string[] }\ntype Out = { sum: number };\nexport default function (args: Args): Out {\n  const n: number = args.a as number;\n  return { sum: n + args.tags.length };\n}";
    let out = run(
        "typescript",
        code,
        Value::from(json!({"a": 40, "tags": ["x", "y"]})),
    )
    .await;
    assert_eq!(out, Ok(Value::from(json!({"sum": 42}))));
    // Generators stream in TypeScript too.
    let program = compile(
        "typescript",
        "export default function* (n: number): Generator<number> { yield n; yield n + 1 }",
        &Options::default(),
    )
    .expect("compiles");
    assert_eq!(
        stream_all(&program, Value::from(1)).await.0,
        vec![Piece::Yield(Value::from(1)), Piece::Yield(Value::from(2))]
    );
}

#[test]
fn typescript_syntax_errors_name_the_line() {
    let err = compile(
        "typescript",
        "export default function (x: number) {\n  return x +;\n}",
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.field(), "code");
    assert!(err.to_string().contains("line 2"), "{err}");
    // Valid TypeScript with no default export is caught like JavaScript's.
    let err = compile(
        "typescript",
        "export const f = (x: number) => x",
        &Options::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("default export"), "{err}");
}

#[tokio::test]
async fn typescript_honours_its_timeout() {
    let program = compile(
        "typescript",
        "export default function (): never { while (true) {} }",
        &opts(Some(200)),
    )
    .expect("compiles");
    let p = Process::new();
    let err = program.run(&p, Value::Null).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("200ms"), "{err}");
    p.exit(None);
}

#[tokio::test]
async fn constant_languages_answer_within_any_timeout() {
    for (language, code, want) in [
        ("text", "pong", Value::from("pong")),
        ("json", "[1]", Value::list([Value::from(1)])),
        ("yaml", "a: 1", Value::map([("a", Value::from(1))])),
    ] {
        let program = compile(language, code, &opts(Some(1))).expect("compiles");
        let p = Process::new();
        assert_eq!(program.run(&p, Value::Null).await, Ok(want), "{language}");
        p.exit(None);
    }
}

#[tokio::test]
async fn javascript_reads_an_errors_text_with_error_as_uniflow_scripts_do() {
    let input = Value::Error(weir_engine::Error::new(
        ErrorKind::UnsupportedType,
        "body: expected an object",
    ));
    let code = "export default function (err) {\n  return { text: err.error(), kind: err.kind };\n}";
    let out = run("javascript", code, input).await.unwrap();
    assert_eq!(
        out.to_json(),
        serde_json::json!({"text": "body: expected an object", "kind": "unsupported type"})
    );
}

//! Outputs pinned to what Go's `text/template` prints for the same template and data (data as
//! Go holds decoded YAML: integers as `int`, other numbers as `float64`, objects as
//! `map[string]any`, lists as `[]any`).

use serde_json::{json, Value};

use super::{GoTemplate, Renderer, TemplateError};

fn env() -> Value {
    json!({
        "PORT": 8000,
        "HOST": "localhost",
        "F": 1.5,
        "Big": 1e21,
        "Million": 1e6,
        "Z": 0,
        "Empty": "",
        "List": [1, 2, 3],
        "Strs": ["a", "b"],
        "Map": {"b": 2, "a": 1},
        "Nil": null,
        "T": true,
        "Nested": {"Inner": {"V": "deep"}},
        "Mixed": [1, "x", null, {"k": "v"}]
    })
}

fn render(t: &str) -> String {
    GoTemplate
        .render(t, &env())
        .unwrap_or_else(|e| panic!("{t:?}: {e}"))
}

fn fails(t: &str) -> TemplateError {
    match GoTemplate.render(t, &env()) {
        Ok(out) => panic!("{t:?} rendered {out:?}"),
        Err(e) => e,
    }
}

#[test]
fn fields_and_missing_keys() {
    let cases = [
        ("{{ .PORT }}", "8000"),
        ("{{.HOST}}:{{.PORT}}", "localhost:8000"),
        ("{{ .Missing }}", "<no value>"),
        ("{{ .Missing.Deeper }}", "<no value>"),
        ("{{ .Nil }}", "<no value>"),
        ("{{ print .Nil }}", "<nil>"),
        ("{{ print .Missing }}", "<nil>"),
        ("{{ .Missing | print }}", "<nil>"),
        ("{{ .Nested.Inner.V }}", "deep"),
        ("{{ .Nested.Inner }}", "map[V:deep]"),
        ("{{ (.Nested).Inner.V }}", "deep"),
        ("{{ $.HOST }}", "localhost"),
        ("{{ .HOST\n }}", "localhost"),
        // Go's parser accepts a trailing pipe.
        ("{{ .HOST | }}", "localhost"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t), want, "{t}");
    }
}

#[test]
fn values_print_as_go_prints_them() {
    let cases = [
        ("{{ .Map }}", "map[a:1 b:2]"),
        ("{{ .List }}", "[1 2 3]"),
        ("{{ .Mixed }}", "[1 x <nil> map[k:v]]"),
        ("{{ .Big }}", "1e+21"),
        ("{{ .Million }}", "1e+06"),
        ("{{ .F }}", "1.5"),
        ("{{ .T }} {{ false }}", "true false"),
        (
            "{{ 3 }} {{ 1.0 }} {{ 1e3 }} {{ 0x10 }} {{ 'a' }} {{ -2 }} {{ 0o17 }} {{ 1_000 }}",
            "3 1 1000 16 97 -2 15 1000",
        ),
        ("{{ \"quoted\\tstring\" }}", "quoted\tstring"),
        ("{{ index .Mixed 2 }}", "<no value>"),
        ("{{ index .Map \"zz\" }}", "<no value>"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t), want, "{t}");
    }
    assert_eq!(
        GoTemplate.render("{{.}}|{{$}}", &json!({"a": 1})).unwrap(),
        "map[a:1]|map[a:1]"
    );
    assert_eq!(GoTemplate.render("{{.a}}", &Value::Null).unwrap(), "<no value>");
}

#[test]
fn literals_trim_markers_and_comments() {
    let cases = [
        ("{{\"{{\"}}", "{{"),
        ("{{`raw {{ }}`}}", "raw {{ }}"),
        ("{{\"}}\"}}", "}}"),
        ("a  {{- .HOST -}}  b", "alocalhostb"),
        ("a \n\t{{- .HOST }} b", "alocalhost b"),
        ("{{/* comment */}}x", "x"),
        ("a {{- /* c\n spans */ -}} b", "ab"),
        ("  plain text  ", "  plain text  "),
        ("{ not an action }", "{ not an action }"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t), want, "{t}");
    }
}

#[test]
fn control_structures() {
    let cases = [
        ("{{if .T}}yes{{else}}no{{end}}", "yes"),
        ("{{if .Z}}a{{else if .Empty}}b{{else if .List}}c{{else}}d{{end}}", "c"),
        ("{{if .Missing}}a{{else}}b{{end}}", "b"),
        ("{{if .Nil}}a{{else}}b{{end}}", "b"),
        ("{{range .List}}{{.}},{{end}}", "1,2,3,"),
        ("{{range $i, $e := .Strs}}{{$i}}={{$e}};{{end}}", "0=a;1=b;"),
        ("{{range $k, $v := .Map}}{{$k}}{{$v}}{{end}}", "a1b2"),
        ("{{range $v := .Map}}{{$v}}{{end}}", "12"),
        ("{{range .Missing}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Nil}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Mixed}}[{{.}}]{{end}}", "[1][x][<no value>][map[k:v]]"),
        ("{{range .List}}{{$.HOST}}{{end}}", "localhostlocalhostlocalhost"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range $e := .List}}{{if eq $e 2}}{{continue}}{{end}}{{if eq $e 3}}{{break}}{{end}}{{$e}}{{end}}", "1"),
        ("{{with .Nested.Inner}}{{.V}}{{end}}", "deep"),
        ("{{with .Missing}}x{{else}}none{{end}}", "none"),
        ("{{with .Missing}}x{{else with .HOST}}{{.}}{{end}}", "localhost"),
        ("{{with $x := .HOST}}{{$x}}{{end}}", "localhost"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t), want, "{t}");
    }
}

#[test]
fn variables() {
    assert_eq!(render("{{$x := .PORT}}{{$x}}"), "8000");
    assert_eq!(render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
    assert_eq!(render("{{$x := 1}}{{range .List}}{{$x = .}}{{end}}{{$x}}"), "3");
    assert_eq!(render("{{$m := .Nested}}{{$m.Inner.V}}"), "deep");
}

#[test]
fn functions() {
    let cases = [
        ("{{printf \"%s:%d\" .HOST .PORT}}", "localhost:8000"),
        ("{{printf \"%v %q %.2f\" .List .HOST .F}}", "[1 2 3] \"localhost\" 1.50"),
        ("{{printf \"%5s|%-5s|%05d\" \"ab\" \"cd\" 42}}", "   ab|cd   |00042"),
        ("{{.PORT | printf \"%d-%s\" 1}}", "1-%!s(int=8000)"),
        ("{{.HOST | printf \"%s!\"}}", "localhost!"),
        ("{{print \"a\" 1 2 \"b\"}}", "a1 2b"),
        ("{{println \"a\" 1}}", "a 1\n"),
        ("{{len .List}} {{len .Map}} {{len .HOST}}", "3 2 9"),
        ("{{index .List 1}} {{index .Map \"b\"}} {{index .Nested \"Inner\" \"V\"}}", "2 2 deep"),
        ("{{slice .HOST 0 5}} {{slice .List 1}}", "local [2 3]"),
        ("{{eq .PORT 8000}} {{ne .HOST \"x\"}} {{lt 1 2}} {{ge \"b\" \"a\"}} {{eq .HOST \"a\" \"localhost\"}}", "true true true true true"),
        ("{{eq .Missing \"x\"}} {{eq .Nil .Missing}}", "false true"),
        ("{{and 1 0 2}} {{or 0 \"\" \"x\"}} {{not .T}} {{and 1 2}} {{or 0 \"\"}}", "0 x false 2 "),
        ("{{or .Missing \"default\"}} {{or .HOST \"default\"}}", "default localhost"),
        ("{{and .Missing .Crash.X.Y}}", "<no value>"),
        ("{{.T | not}}", "false"),
        ("{{html \"<b>\"}} {{urlquery \"a b\"}} {{js \"it's\"}}", "&lt;b&gt; a+b it\\'s"),
        ("{{(index .Strs 0)}}{{len (slice .List 1)}}", "a2"),
    ];
    for (t, want) in cases {
        assert_eq!(render(t), want, "{t}");
    }
}

#[test]
fn execution_errors_name_the_action_and_the_problem() {
    let cases = [
        ("{{.HOST.X}}", "can't evaluate field X in type string"),
        ("{{.Nil.X}}", "nil pointer evaluating interface {}.X"),
        ("{{index .List 5}}", "error calling index: index out of range: 5"),
        (
            "{{eq .HOST 1}}",
            "error calling eq: incompatible types for comparison",
        ),
        ("{{lt .T 1}}", "error calling lt: invalid type for comparison"),
        ("{{nil}}", "nil is not a command"),
        ("{{.HOST 1}}", "HOST is not a method but has arguments"),
        ("{{range .HOST}}{{end}}", "range can't iterate over localhost"),
        (
            "{{range $i, $e := 3}}{{end}}",
            "can't use 3 to iterate over more than one variable",
        ),
        ("{{len 3}}", "error calling len: len of type int"),
        ("{{printf 3}}", "wrong type for value; expected string; got int"),
        ("{{not}}", "wrong number of args for not: want 1 got 0"),
        ("{{\"x\" 1}}", "can't give argument to non-function \"x\""),
    ];
    for (t, want) in cases {
        match fails(t) {
            TemplateError::Exec { message, .. } => assert_eq!(message, want, "{t}"),
            other => panic!("{t}: {other}"),
        }
    }
    let e = fails("ok\n{{ index .List 5 }}");
    assert_eq!(
        e.to_string(),
        "template error at 2:4 in <index .List 5>: error calling index: index out of range: 5"
    );
}

#[test]
fn syntax_errors_name_the_position() {
    let cases = [
        ("{{ .X }", "1:1: unclosed action"),
        ("{{if .T}}x", "1:11: unexpected EOF"),
        ("x{{end}}", "1:4: unexpected {{end}}"),
        ("{{ nope 1 }}", "1:4: function \"nope\" not defined"),
        ("{{ $y }}", "1:4: undefined variable \"$y\""),
        ("{{ }}", "1:4: missing value for command"),
        ("{{ .X | | }}", "1:9: unexpected \"|\" in command"),
        ("{{ (1 }}", "1:7: unclosed left paren"),
        ("{{ \"abc }}", "1:4: unterminated quoted string"),
        ("{{ /* c */ }}", "1:4: unexpected \"/\" in command"),
        ("{{/* c */ x }}", "1:1: comment ends before closing delimiter"),
    ];
    for (t, want) in cases {
        match fails(t) {
            e @ TemplateError::Syntax { .. } => {
                assert_eq!(e.to_string(), format!("template syntax error at {want}"), "{t}")
            }
            other => panic!("{t}: {other}"),
        }
    }
}

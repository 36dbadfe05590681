//! `proxy` between weir's own listener and two real upstream servers: round robin from the first URL,
//! X-Forwarded headers, paths and queries joined, the system-address guard.

use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use weir_engine::testing::Graph;
use weir_engine::{call, OutPort, Process, Value};

use super::client::{compile_in, system_addr};
use super::upstream::{full, Body, Upstream};
use super::{client, install, serve};

/// An upstream that says who it is and what it got.
async fn named(who: &'static str) -> Upstream {
    Upstream::start(move |req: Request<Incoming>| async move {
        let h = |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        let doc = json!({
            "who": who, "path": req.uri().path(), "query": req.uri().query(),
            "xff": h("x-forwarded-for"), "xfh": h("x-forwarded-host"), "xfp": h("x-forwarded-proto"),
        });
        let mut res: Response<Body> = Response::new(full(doc.to_string()));
        res.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        res
    })
    .await
}

#[tokio::test]
async fn net_proxy_round_robin_from_the_first_url_with_forwarded_headers() {
    let (a, b) = (named("a").await, named("b").await);
    let mut g = Graph::new();
    let proxy = compile_in("test", "proxy", json!({"urls": [a.url("/base?t=1"), b.url("")]}));
    install(&mut g, "proxy", proxy, &[]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "proxy", 0)]);
    let mut seen = Vec::new();
    for i in 0..3 {
        let res = client()
            .get(srv.url(&format!("/p/{i}?q=x")))
            .header("X-Forwarded-For", "10.0.0.1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        seen.push(body);
    }
    let who: Vec<_> = seen.iter().map(|b| b["who"].as_str().unwrap()).collect();
    assert_eq!(who, ["a", "b", "a"]);
    assert_eq!(seen[0]["path"], "/base/p/0");
    assert_eq!(seen[0]["query"], "t=1&q=x");
    assert_eq!(
        (&seen[1]["path"], &seen[1]["query"]),
        (&json!("/p/1"), &json!("q=x"))
    );
    for body in &seen {
        assert_eq!(body["xff"], "10.0.0.1, 127.0.0.1");
        assert_eq!(body["xfh"], srv.addr.to_string());
        assert_eq!(body["xfp"], "http");
    }
}

#[tokio::test]
async fn net_proxy_refuses_the_system_listener_and_bad_specs() {
    let (addr, _up) = system_addr();
    let mut g = Graph::new();
    let proxy = compile_in("default", "proxy", json!({"urls": [format!("http://{addr}/")]}));
    let slot = install(&mut g, "proxy", proxy, &[]);
    let payload = Value::from(&json!({"method": "GET", "path": "/", "host": "x"}));
    let err = call(&slot, &Process::new(), 0, payload.clone())
        .await
        .unwrap_err();
    assert!(err.message().contains("system listener"), "{err}");
    let ok = compile_in("system", "proxy", json!({"urls": [format!("http://{addr}/")]}));
    let slot = install(&mut g, "sys", ok, &[]);
    let res = call(&slot, &Process::new(), 0, payload).await.unwrap();
    assert_eq!(res[0].to_json()["status"], 200);

    let issues = |fields| {
        let cx = weir_codecs::codec::CompileContext::new("test", "p");
        super::scheme()
            .get("proxy")
            .unwrap()
            .compile(&fields, &cx)
            .err()
            .map(|e| e[0].field.clone())
    };
    assert_eq!(issues(json!({"urls": []})).as_deref(), Some("urls"));
    assert_eq!(
        issues(json!({"urls": ["http://a/", "ftp://b/"]})).as_deref(),
        Some("urls.1")
    );
    assert_eq!(issues(json!({"urls": "http://a/"})), None);
}

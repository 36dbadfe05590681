//! The floor for `bench/ping.sh`: a minimal hyper server answering `GET /ping` with `pong` (404
//! elsewhere), on 127.0.0.1 and the port given as the first argument (0 for any). Prints
//! `listening floor ADDR` like weir does, so the script can find it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = if req.method() == hyper::Method::GET && req.uri().path() == "/ping" {
        Response::new(Full::new(Bytes::from_static(b"pong")))
    } else {
        Response::new(Full::new(Bytes::from_static(b"not found")))
    };
    if req.uri().path() != "/ping" {
        *res.status_mut() = StatusCode::NOT_FOUND;
    }
    res.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening floor {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}

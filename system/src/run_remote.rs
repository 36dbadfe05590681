//! `weir run --server URL`: the job runs on that host through its system API: `POST
//! /v1/namespaces/{ns}/jobs` starts it, `GET /v1/jobs/{id}/events` (NDJSON) streams its events as they
//! happen, printed as a local run prints them. Ctrl-C cancels the job (`DELETE /v1/jobs/{id}`) and
//! goes on printing until its final event. A stream cut before the final event is read again from the
//! last sequence number seen, so nothing is printed twice or lost.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use futures::StreamExt;
use serde_json::{json, Value as Json};
use weir_engine::job::JobStatus;
use weir_engine::Value;

use crate::cli::RunArgs;
use crate::run::Printer;

/// How many times a cut event stream is resumed before giving up.
const RESUMES: usize = 5;

fn client(args: &RunArgs) -> anyhow::Result<(reqwest::Client, reqwest::header::HeaderMap)> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = &args.token {
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("--token: not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    Ok((client, headers))
}

/// The error a response carries (`{"error": …}` or its text).
async fn error_of(res: reqwest::Response) -> String {
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Json>(&text)
        .ok()
        .and_then(|j| j.get("error").and_then(Json::as_str).map(str::to_string))
        .unwrap_or(text);
    format!("HTTP {}: {message}", status.as_u16())
}

pub async fn run(args: &RunArgs, server: &str, input: Value) -> anyhow::Result<JobStatus> {
    let base = server.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--server {server:?}: expected a URL such as http://127.0.0.1:7777");
    }
    let (client, headers) = client(args)?;
    let port = if args.port == 0 {
        "in".to_string()
    } else {
        format!("in[{}]", args.port)
    };
    let ns = &args.namespace;
    let res = client
        .post(format!("{base}/v1/namespaces/{ns}/jobs"))
        .headers(headers.clone())
        .json(&json!({"node": args.node, "port": port, "input": input.to_json()}))
        .send()
        .await
        .with_context(|| format!("--server {base}: cannot reach the host"))?;
    if !res.status().is_success() {
        bail!("--server {base}: the job did not start: {}", error_of(res).await);
    }
    let created: Json = res.json().await.context("reading the created job")?;
    let id = created
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| anyhow!("--server {base}: the answer names no job id: {created}"))?
        .to_string();

    let mut printer = Printer::new(std::io::stdout().lock(), args.output);
    let mut last_seq = 0u64;
    let mut cancelled = false;
    let mut resumes = 0;
    'stream: loop {
        let res = client
            .get(format!("{base}/v1/jobs/{id}/events?after={last_seq}"))
            .headers(headers.clone())
            .header(reqwest::header::ACCEPT, "application/x-ndjson")
            .send()
            .await
            .with_context(|| format!("--server {base}: job {id}: reading its events"))?;
        if !res.status().is_success() {
            bail!("--server {base}: job {id}: events: {}", error_of(res).await);
        }
        let mut body = res.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                c = body.next() => c,
                _ = tokio::signal::ctrl_c(), if !cancelled => {
                    cancelled = true;
                    let r = client
                        .delete(format!("{base}/v1/jobs/{id}"))
                        .headers(headers.clone())
                        .send()
                        .await;
                    if let Err(e) = r {
                        eprintln!("weir: job {id}: cancelling failed: {e}");
                    }
                    continue;
                }
            };
            let chunk = match chunk {
                None => break,
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    tracing::debug!("job {id}: the event stream was cut: {e}");
                    break;
                }
            };
            buf.extend_from_slice(&chunk);
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let event: Json = serde_json::from_str(text)
                    .with_context(|| format!("job {id}: an event is not JSON: {text}"))?;
                if let Some(seq) = event.get("seq").and_then(Json::as_u64) {
                    last_seq = seq;
                }
                printer.event(&event)?;
            }
        }
        if printer
            .status()
            .is_some_and(|s| matches!(s, "completed" | "failed" | "cancelled"))
        {
            break 'stream;
        }
        resumes += 1;
        if resumes > RESUMES {
            bail!("--server {base}: job {id}: the event stream kept ending before the job's last event");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    printer.finish()?;
    Ok(match printer.status() {
        Some("completed") => JobStatus::Completed,
        Some("cancelled") => JobStatus::Cancelled,
        _ => JobStatus::Failed,
    })
}

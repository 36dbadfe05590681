//! `weir run -n NS NODE [-i VALUE | -f FILE]`: runs one job in this process and prints its events as
//! they come: tokens (`chunk`) inline on stdout, other events as lines (`-o text`) or every event as
//! one JSON line (`-o json`), then the result. Exits 0 when the job completed, 1 when it failed or
//! was cancelled (Ctrl-C cancels it).
//!
//! The namespace is loaded from the store (plus `--from-specs`/`--from-values` files, stored first,
//! as `weir start` does), run for the job, and closed after it. With `--server URL` the job runs on
//! that host instead, through its job API (`run_remote.rs`), printed the same way.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::Mutex;
use weir_engine::job::{Item, JobEntry, JobStatus, Jobs};
use weir_engine::Value;
use weir_loader::Loader;
use weir_symbols::Table;

use crate::cli::{RunArgs, RunOutput, StartArgs};
use crate::settings::Settings;
use crate::store::open_store;

/// The job's input: `-i` as JSON when it parses (else a string), `-f` as a YAML or JSON file, or
/// nothing (`null`).
fn input(args: &RunArgs) -> anyhow::Result<Value> {
    if let Some(text) = &args.input {
        return Ok(match serde_json::from_str::<serde_json::Value>(text) {
            Ok(j) => Value::from(j),
            Err(_) => Value::from(text.as_str()),
        });
    }
    if let Some(path) = &args.file {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin()).context("reading stdin")?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        };
        let json: serde_json::Value = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("{}: not YAML or JSON", path.display()))?;
        return Ok(Value::from(json));
    }
    Ok(Value::Null)
}

/// One event as a line of text (`-o text`).
fn line(e: &serde_json::Value) -> String {
    let s = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let seq = e.get("seq").and_then(serde_json::Value::as_u64).unwrap_or(0);
    match s("type").as_str() {
        "job_update" => match e.get("error").and_then(|v| v.as_str()) {
            Some(err) => format!("[{seq}] job {}: {err}", s("status")),
            None => format!("[{seq}] job {}", s("status")),
        },
        "node_update" => match e.get("error").and_then(|v| v.as_str()) {
            Some(err) => format!("[{seq}] {} {}: {err}", s("node_name"), s("status")),
            None => format!("[{seq}] {} {}", s("node_name"), s("status")),
        },
        "edge_update" => format!(
            "[{seq}] edge {} {} ({})",
            s("edge_id"),
            s("status"),
            e.get("counter").cloned().unwrap_or_default()
        ),
        "output_update" => format!(
            "[{seq}] {} {} = {}",
            s("node_name"),
            s("output_name"),
            e.get("value").cloned().unwrap_or_default()
        ),
        "log_update" => format!("[{seq}] {} {}: {}", s("severity"), s("node_name"), s("content")),
        "node_progress" => format!(
            "[{seq}] {} {}/{}",
            s("node_id"),
            e.get("progress").cloned().unwrap_or_default(),
            e.get("total").cloned().unwrap_or_default()
        ),
        other => format!("[{seq}] {other} {e}"),
    }
}

/// Prints a job's events as they come (`-o text` or `-o json`), then its result.
pub(crate) struct Printer<W: Write> {
    out: W,
    output: RunOutput,
    in_chunk: bool,
    final_event: Option<serde_json::Value>,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, output: RunOutput) -> Self {
        Printer {
            out,
            output,
            in_chunk: false,
            final_event: None,
        }
    }

    /// One event (flushed at once, so tokens show as they arrive).
    pub fn event(&mut self, event: &serde_json::Value) -> std::io::Result<()> {
        let out = &mut self.out;
        match self.output {
            RunOutput::Json => writeln!(out, "{event}")?,
            RunOutput::Text => {
                if event["type"] == "chunk" {
                    if let Some(t) = event["content"].as_str() {
                        write!(out, "{t}")?;
                    } else {
                        write!(out, "{}", event["content"])?;
                    }
                    self.in_chunk = true;
                } else {
                    if self.in_chunk {
                        writeln!(out)?;
                        self.in_chunk = false;
                    }
                    if event["type"] == "replay_incomplete" {
                        let n = |k: &str| event[k].as_u64().unwrap_or(0);
                        writeln!(
                            out,
                            "(events {}..{} were dropped)",
                            n("asked") + 1,
                            n("first_kept").saturating_sub(1)
                        )?;
                    } else {
                        writeln!(out, "{}", line(event))?;
                    }
                }
            }
        }
        out.flush()?;
        if event["type"] == "job_update" {
            self.final_event = Some(event.clone());
        }
        Ok(())
    }

    /// The job's status as its last `job_update` said.
    pub fn status(&self) -> Option<&str> {
        self.final_event.as_ref()?.get("status")?.as_str()
    }

    /// Prints the result (`-o text`).
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let (RunOutput::Text, Some(e)) = (self.output, &self.final_event) {
            if let Some(result) = e.get("result") {
                writeln!(self.out, "{}", serde_json::to_string_pretty(result)?)?;
            }
        }
        self.out.flush()?;
        Ok(())
    }
}

/// `weir run`.
pub async fn run(args: &RunArgs, settings: &Settings) -> anyhow::Result<JobStatus> {
    if let Some(server) = &args.server {
        if !args.from_specs.is_empty() || !args.from_values.is_empty() || !args.env.is_empty() {
            bail!("--server runs the job on that host with its specs: --from-specs, --from-values and --env do not apply");
        }
        return crate::run_remote::run(args, server, input(args)?).await;
    }
    let store = open_store(&settings.store)?;
    let namespace = args.namespace.clone();
    let files = StartArgs {
        namespaces: vec![namespace.clone()],
        from_specs: args.from_specs.clone(),
        from_values: args.from_values.clone(),
        from_charts: Vec::new(),
        env: args.env.clone(),
        system_addr: None,
        no_system: true,
    };
    let scheme = crate::system_ns::scheme(&crate::system_ns::services(store.clone()));
    crate::host::load_files(store.as_ref(), &scheme, &files)?;
    let value = input(args)?;
    let host_env = crate::host::parse_env(&args.env)?;
    let table = Arc::new(Mutex::new(Table::new(namespace.clone(), scheme, host_env)));
    Loader::new(store.clone(), table.clone()).reload().await?;
    let kinds: HashMap<String, String> = store
        .specs(Some(&namespace))?
        .into_iter()
        .filter_map(|s| Some((s.name?, s.kind)))
        .collect();
    let slot = {
        let t = table.lock().await;
        match t.slot(&args.node) {
            Some(slot) => slot,
            None => bail!(
                "namespace \"{namespace}\": no spec named \"{}\" to run (specs: {})",
                args.node,
                {
                    let mut names: Vec<_> = kinds.keys().cloned().collect();
                    names.sort();
                    names.join(", ")
                }
            ),
        }
    };
    if let Some(weir_symbols::Status::Inactive(why)) = table.lock().await.status(&args.node) {
        bail!(
            "namespace \"{namespace}\": spec \"{}\" is inactive: {why}",
            args.node
        );
    }
    let jobs = Jobs::default();
    let entry = JobEntry {
        node: args.node.clone(),
        slot,
        port: args.port,
        inputs: vec![value],
        open: false,
    };
    let job = jobs.start(&namespace, vec![entry], kinds);
    let mut events = job.events(0);
    let mut printer = Printer::new(std::io::stdout().lock(), args.output);
    loop {
        let item = tokio::select! {
            item = events.next() => item,
            _ = tokio::signal::ctrl_c() => {
                job.cancel();
                continue;
            }
        };
        let Some(item) = item else { break };
        let event = match item {
            Item::Event(_, e) => e,
            Item::ReplayIncomplete { asked, first_kept } => std::sync::Arc::new(serde_json::json!({
                "type": "replay_incomplete", "asked": asked, "first_kept": first_kept
            })),
        };
        printer.event(&event)?;
    }
    printer.finish()?;
    drop(printer);
    table
        .lock()
        .await
        .shutdown(std::time::Duration::from_secs(10))
        .await;
    Ok(job.status())
}

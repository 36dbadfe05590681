//! NodeTool's `POST /api/workflows/{id}/run` as the `run` action of `job`: the packet
//! `{namespace, params: {NODE: VALUE}, stream}` starts a job in `namespace` (NodeTool's workflow id)
//! writing each VALUE into the `in` port of its NODE. With `stream` (`true`, `"true"` or `"1"`: the
//! query's `?stream=true`), the reply is the job's events as they happen, ending with its final
//! `job_update` (the listener writes them as NDJSON); without it, the reply is the job's outputs when
//! it ends, as NodeTool answers: `{NODE: VALUE}` for each node whose value reached an unconnected out
//! port (several values of one node as a list). A job that fails or is cancelled answers an error
//! carrying the job's.
//!
//! The job does not belong to the request: a client that goes away leaves it running (`DELETE
//! /v1/jobs/{id}` cancels it).

use std::sync::Arc;

use indexmap::IndexMap;
use weir_engine::job::Item;
use weir_engine::{Cx, Error, ErrorKind, OutPort, Process, Result, Value};

use super::jobs::{bad, event_value, field, text, EntryRequest, JobsApi};

/// Whether `input[key]` says yes (`true`, `"true"`, `"1"`, `"yes"`).
fn flag(input: &Value, key: &str) -> bool {
    match field(input, key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Some(Value::Int(i)) => *i != 0,
        _ => false,
    }
}

/// The entries of `params`: one per node, its value written into `in`.
pub(crate) fn entries(namespace: &str, params: Option<&Value>) -> Result<Vec<EntryRequest>> {
    let map = match params {
        None => return Ok(Vec::new()),
        Some(Value::Map(m)) => m,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "namespace \"{namespace}\": field \"params\": expected an object {{NODE: VALUE}}, got {}",
                    other.type_name()
                ),
            ))
        }
    };
    Ok(map
        .iter()
        .map(|(node, value)| EntryRequest {
            node: node.clone(),
            port: 0,
            inputs: vec![value.clone()],
            open: false,
        })
        .collect())
}

/// The `run` action.
pub(crate) async fn run(api: &JobsApi, cx: &mut Cx, process: &Arc<Process>, input: &Value) -> Result<()> {
    let Some(namespace) = text(input, "namespace")? else {
        return Err(bad(
            "field \"namespace\": the workflow id (the namespace to run in) is required",
        ));
    };
    let entries = entries(&namespace, field(input, "params"))?;
    let job = api.start(process, &namespace, entries).await?;
    let stream = flag(input, "stream");
    let mut cursor = job.events(0);
    let mut outputs: IndexMap<String, Vec<Value>> = IndexMap::new();
    loop {
        let item = tokio::select! {
            biased;
            _ = process.done() => return Err(process.ended_error()),
            item = cursor.next() => item,
        };
        let Some(item) = item else { break };
        if stream {
            cx.emit(OutPort::OUT, event_value(&job, item)).await?;
            continue;
        }
        let Item::Event(_, event) = item else { continue };
        match event["type"].as_str() {
            Some("output_update") => {
                let node = event["node_name"].as_str().unwrap_or_default().to_string();
                outputs
                    .entry(node)
                    .or_default()
                    .push(Value::from(&event["value"]));
            }
            Some("job_update") if matches!(event["status"].as_str(), Some("failed" | "cancelled")) => {
                let status = event["status"].as_str().unwrap_or("failed");
                let error = event["error"].as_str().unwrap_or("no error given");
                let kind = if status == "cancelled" {
                    ErrorKind::Cancelled
                } else {
                    ErrorKind::Node
                };
                return Err(Error::new(
                    kind,
                    format!("namespace \"{namespace}\": job {} {status}: {error}", job.id()),
                ));
            }
            _ => {}
        }
    }
    if stream {
        return Ok(());
    }
    let result = Value::map(outputs.into_iter().map(|(node, mut values)| {
        let v = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::list(values)
        };
        (node, v)
    }));
    cx.emit(OutPort::OUT, result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_params_become_one_entry_per_node_and_stream_flags_read_as_queries_do() {
        let input = Value::from(&serde_json::json!({
            "params": {"a": 1, "b": {"x": true}}, "stream": ["true"]
        }));
        let e = entries("ns", field(&input, "params")).unwrap();
        let names: Vec<_> = e
            .iter()
            .map(|e| (e.node.as_str(), e.inputs[0].to_json()))
            .collect();
        assert_eq!(
            names,
            vec![("a", serde_json::json!(1)), ("b", serde_json::json!({"x": true}))]
        );
        assert!(flag(&input, "stream"));
        assert!(!flag(
            &Value::from(&serde_json::json!({"stream": "false"})),
            "stream"
        ));
        let err = entries("ns", Some(&Value::from("x"))).err().unwrap();
        assert!(
            err.to_string().contains("namespace \"ns\": field \"params\""),
            "{err}"
        );
    }
}

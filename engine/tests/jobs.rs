//! Jobs: events in order with NodeTool's names, streamed input, failure without a hang, cancel that
//! stops the work, reconnect from a position.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use weir_engine::job::{Item, JobEntry, JobStatus, Jobs, JobsConfig};
use weir_engine::template::Pass;
use weir_engine::testing::{eventually, fail, map, pass_chain, Graph};
use weir_engine::{Cx, Input, Node, OutPort, Result, Value};

const LONG: Duration = Duration::from_secs(20);

fn entry(g: &mut Graph, node: &str, inputs: Vec<Value>, open: bool) -> JobEntry {
    JobEntry {
        node: node.to_string(),
        slot: g.slot(node),
        port: 0,
        inputs,
        open,
    }
}

async fn all_events(job: &weir_engine::job::Job) -> Vec<Json> {
    let mut c = job.events(0);
    let mut out = Vec::new();
    while let Some(item) = tokio::time::timeout(LONG, c.next()).await.unwrap() {
        match item {
            Item::Event(_, e) => out.push((*e).clone()),
            Item::ReplayIncomplete { .. } => panic!("nothing was dropped"),
        }
    }
    out
}

fn of_type<'a>(events: &'a [Json], t: &str) -> Vec<&'a Json> {
    events.iter().filter(|e| e["type"] == t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reports_its_life_in_order_with_nodetool_names() {
    let mut g = Graph::new();
    g.add("c", map(|v| Ok(Value::from(v.as_i64().unwrap_or(0) * 10))), &[]);
    g.add("b", Pass, &[(OutPort::OUT, "c", 0)]);
    g.add("a", Pass, &[(OutPort::OUT, "b", 0)]);
    let jobs = Jobs::default();
    let kinds = HashMap::from([("a".to_string(), "nop".to_string())]);
    let job = jobs.start(
        "default",
        vec![entry(&mut g, "a", vec![Value::from(4)], false)],
        kinds,
    );
    assert_eq!(job.wait().await, JobStatus::Completed);
    let events = all_events(&job).await;

    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "numbered from 1"
    );
    assert_eq!(events[0]["type"], "job_update");
    assert_eq!(events[0]["status"], "queued");
    assert_eq!(events[1]["status"], "running");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "job_update");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["result"], json!({"a": 40}));
    assert_eq!(last["job_id"], job.id().to_string());
    assert!(last["duration"].as_f64().unwrap() >= 0.0);

    for node in ["a", "b", "c"] {
        let updates: Vec<&str> = of_type(&events, "node_update")
            .into_iter()
            .filter(|e| e["node_name"] == node)
            .map(|e| e["status"].as_str().unwrap())
            .collect();
        assert_eq!(updates, vec!["running", "completed"], "node {node}");
    }
    assert_eq!(
        of_type(&events, "node_update")[0]["node_type"],
        "nop",
        "kinds given at start name node_type"
    );
    let outputs = of_type(&events, "output_update");
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["node_name"], "c");
    assert_eq!(outputs[0]["output_name"], "out");
    assert_eq!(outputs[0]["value"], json!(40));
    let drained: HashMap<String, u64> = of_type(&events, "edge_update")
        .into_iter()
        .filter(|e| e["status"] == "drained")
        .map(|e| {
            (
                e["edge_id"].as_str().unwrap().to_string(),
                e["counter"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        drained,
        HashMap::from([("a:out->b:in".to_string(), 1), ("b:out->c:in".to_string(), 1)])
    );
    let info = job.info();
    assert_eq!(info["status"], "completed");
    assert_eq!(info["workflow_id"], "default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_input_costs_at_most_one_event_per_node_per_item() {
    let mut g = Graph::new();
    pass_chain(&mut g, 10);
    let jobs = Jobs::default();
    let job = jobs.start("default", vec![entry(&mut g, "n0", vec![], true)], HashMap::new());
    const ITEMS: i64 = 2_000;
    for i in 0..ITEMS {
        job.send_input("n0", Value::from(i)).await.unwrap();
    }
    job.end_input("n0").unwrap();
    assert_eq!(job.wait().await, JobStatus::Completed);
    let events = all_events(&job).await;
    let outputs: Vec<i64> = of_type(&events, "output_update")
        .iter()
        .map(|e| e["value"].as_i64().unwrap())
        .collect();
    assert_eq!(
        outputs,
        (0..ITEMS).collect::<Vec<_>>(),
        "every item once, in order"
    );
    assert!(
        events.len() as i64 <= 10 * ITEMS,
        "{} events for {ITEMS} items through 10 nodes",
        events.len()
    );
    assert_eq!(
        of_type(&events, "node_update").len(),
        20,
        "running and completed per node"
    );
    assert!(job.send_input("n0", Value::Null).await.is_err(), "input ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_in_a_bounded_chain_fails_the_job_without_a_hang() {
    let mut g = Graph::new();
    g.add_with(
        "c",
        fail("boom"),
        &[],
        weir_engine::NodeOptions {
            buffer: 2,
            concurrency: 4,
        },
    );
    g.add_with(
        "b",
        Pass,
        &[(OutPort::OUT, "c", 0)],
        weir_engine::NodeOptions {
            buffer: 2,
            concurrency: 4,
        },
    );
    g.add("a", Pass, &[(OutPort::OUT, "b", 0)]);
    let jobs = Jobs::default();
    let inputs = (0..50).map(Value::from).collect();
    let job = jobs.start("default", vec![entry(&mut g, "a", inputs, false)], HashMap::new());
    let status = tokio::time::timeout(LONG, job.wait()).await.expect("no hang");
    assert_eq!(status, JobStatus::Failed);
    let events = all_events(&job).await;
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(last["error"].as_str().unwrap().contains("boom"), "{last}");
    assert!(of_type(&events, "node_update")
        .iter()
        .any(|e| e["node_name"] == "c" && e["status"] == "error"));
}

/// Works until its process is cancelled; records that its handler was dropped mid-work.
struct Forever {
    started: Arc<AtomicBool>,
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Node for Forever {
    type State = ();
    async fn on_packet(&self, _: &mut (), _cx: &mut Cx, _input: Input) -> Result<()> {
        let _guard = SetOnDrop(self.dropped.clone());
        self.started.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_node_in_the_middle_of_its_work() {
    let mut g = Graph::new();
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    g.add(
        "work",
        Forever {
            started: started.clone(),
            dropped: dropped.clone(),
        },
        &[],
    );
    g.add("a", Pass, &[(OutPort::OUT, "work", 0)]);
    let jobs = Jobs::default();
    let job = jobs.start(
        "default",
        vec![entry(&mut g, "a", vec![Value::Null], false)],
        HashMap::new(),
    );
    assert!(eventually(LONG, || started.load(Ordering::SeqCst)).await);
    assert_eq!(job.status(), JobStatus::Running);
    job.cancel();
    assert_eq!(
        tokio::time::timeout(LONG, job.wait()).await.unwrap(),
        JobStatus::Cancelled
    );
    assert!(
        eventually(LONG, || dropped.load(Ordering::SeqCst)).await,
        "the handler was stopped, not left running"
    );
    let events = all_events(&job).await;
    assert_eq!(events.last().unwrap()["status"], "cancelled");
    assert_eq!(
        of_type(&events, "job_update").len(),
        3,
        "queued, running, cancelled: one final event"
    );
    job.cancel();
    assert_eq!(
        job.status(),
        JobStatus::Cancelled,
        "a second cancel changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_gets_exactly_the_missed_events_or_is_told_they_are_gone() {
    let mut g = Graph::new();
    pass_chain(&mut g, 3);
    let jobs = Jobs::default();
    let job = jobs.start(
        "default",
        vec![entry(&mut g, "n0", (0..5).map(Value::from).collect(), false)],
        HashMap::new(),
    );
    job.wait().await;
    let all = all_events(&job).await;
    let mut c = job.events(4);
    let mut rest = Vec::new();
    while let Some(Item::Event(_, e)) = c.next().await {
        rest.push((*e).clone());
    }
    assert_eq!(rest, all[4..].to_vec());

    let small = Jobs::new(JobsConfig {
        log_capacity: 4,
        ..JobsConfig::default()
    });
    let job = small.start(
        "default",
        vec![entry(&mut g, "n0", (0..5).map(Value::from).collect(), false)],
        HashMap::new(),
    );
    job.wait().await;
    let mut c = job.events(1);
    match c.next().await.unwrap() {
        Item::ReplayIncomplete { asked, first_kept } => {
            assert_eq!(asked, 1);
            assert!(first_kept > 2);
        }
        other => panic!("expected replay_incomplete, got {other:?}"),
    }
    let mut kept = 0;
    while let Some(Item::Event(_, _)) = c.next().await {
        kept += 1;
    }
    assert_eq!(kept, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_and_unknown_jobs() {
    struct Warn;
    impl Node for Warn {
        type State = ();
        async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
            cx.warn("left over");
            cx.chunk(&Value::from("tok"), true);
            cx.progress(1, 2);
            cx.emit(OutPort::OUT, input.packet.value).await
        }
    }
    let mut g = Graph::new();
    g.add("w", Warn, &[]);
    let jobs = Jobs::default();
    let job = jobs.start(
        "default",
        vec![entry(&mut g, "w", vec![Value::Null], false)],
        HashMap::new(),
    );
    job.wait().await;
    let events = all_events(&job).await;
    let logs = of_type(&events, "log_update");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0]["severity"], "warning");
    assert!(logs[0]["content"].as_str().unwrap().contains("left over"));
    let chunks = of_type(&events, "chunk");
    assert_eq!(
        (chunks[0]["content"].clone(), chunks[0]["done"].clone()),
        (json!("tok"), json!(true))
    );
    assert_eq!(of_type(&events, "node_progress")[0]["total"], 2);
    assert_eq!(jobs.list().len(), 1);
    assert!(jobs.get(uuid::Uuid::now_v7()).is_none());
}

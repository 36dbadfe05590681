//! A node handles many processes at once and keeps order within each.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use weir_engine::testing::{FnNode, Graph, Produce};
use weir_engine::{call, OutPort, Process, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serving_64_processes_at_once_does_not_serialise_them() {
    let mut g = Graph::new();
    let barrier = Arc::new(Barrier::new(64));
    let slot = g.add(
        "wait",
        FnNode(move |v: Value| {
            let barrier = barrier.clone();
            // Each process waits until all 64 are inside the node at the same time.
            async move {
                barrier.wait().await;
                Ok(v)
            }
        }),
        &[],
    );
    let mut calls = Vec::new();
    for i in 0..64 {
        let slot = slot.clone();
        calls.push(tokio::spawn(async move {
            call(&slot, &Process::new(), 0, Value::from(i)).await
        }));
    }
    for (i, c) in calls.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(10), c)
            .await
            .expect("not serialised")
            .unwrap();
        assert_eq!(got.unwrap(), vec![Value::from(i as i64)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_is_kept_within_each_of_many_concurrent_processes() {
    let mut g = Graph::new();
    g.add("b", weir_engine::testing::map(Ok), &[]);
    g.add("a", weir_engine::testing::map(Ok), &[(OutPort::OUT, "b", 0)]);
    let src = g.add("src", Produce::new(200), &[(OutPort::OUT, "a", 0)]);
    let mut calls = Vec::new();
    for _ in 0..32 {
        let src = src.clone();
        calls.push(tokio::spawn(async move {
            call(&src, &Process::new(), 0, Value::Null).await
        }));
    }
    for c in calls {
        let got = c.await.unwrap().unwrap();
        assert_eq!(got, (0..200u64).map(Value::from).collect::<Vec<_>>());
    }
}

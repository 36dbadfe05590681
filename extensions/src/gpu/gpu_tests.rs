//! Tests of the `gpu` family that run without a GPU: on this host (no CUDA driver) a namespace with a
//! `gpu` spec loads everything else and leaves the `gpu` spec inactive with a clear error; the node's
//! packets, tensor checks and GPU locking are tested over a CPU reference device that exists only
//! here (the kind itself never falls back to the CPU).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use weir_codecs::codec::CompileContext;
use weir_codecs::resource::{parse_specs, Format};
use weir_cuda::{GpuError, Op, Tensor};
use weir_engine::gpu::GpuLocks;
use weir_engine::observe::Observer;
use weir_engine::testing::Graph;
use weir_engine::{ErrorKind, NodeSlot, Process, Value};
use weir_symbols::{HostEnv, Status, Table};

use super::kind::{Device, GpuNode};

const WAIT: Duration = Duration::from_secs(10);

/// The CPU reference: the ops computed plainly, for checking the node around the device.
struct Cpu;

impl Device for Cpu {
    fn ordinal(&self) -> u32 {
        0
    }

    fn run(&self, op: Op, inputs: &[Tensor]) -> Result<Tensor, GpuError> {
        let shape = op.output_shape(inputs)?;
        let a = inputs[0].data();
        let data: Vec<f32> = match op {
            Op::Add => a.iter().zip(inputs[1].data()).map(|(x, y)| x + y).collect(),
            Op::Mul => a.iter().zip(inputs[1].data()).map(|(x, y)| x * y).collect(),
            Op::Relu => a.iter().map(|x| if *x > 0.0 { *x } else { 0.0 }).collect(),
            Op::Matmul => {
                let (m, k, n) = (shape[0], inputs[0].shape()[1], shape[1]);
                let b = inputs[1].data();
                (0..m * n)
                    .map(|i| (0..k).map(|j| a[i / n * k + j] * b[j * n + i % n]).sum())
                    .collect()
            }
        };
        Ok(Tensor::new(shape, data)?)
    }
}

fn node(graph: &mut Graph, op: Op, locks: &GpuLocks, timeout: Duration) -> Arc<NodeSlot> {
    let name = format!("gpu-{op}");
    let n = GpuNode::new(
        Arc::new(Cpu),
        op,
        locks.clone(),
        timeout,
        &CompileContext::new("ml", &name),
    );
    graph.add(&name, n, &[])
}

fn tensor(shape: &[usize], data: &[f64]) -> serde_json::Value {
    json!({"shape": shape, "data": data})
}

async fn run_in(
    slot: &Arc<NodeSlot>,
    p: &Arc<Process>,
    input: serde_json::Value,
) -> weir_engine::Result<serde_json::Value> {
    let out = tokio::time::timeout(WAIT, weir_engine::call(slot, p, 0, Value::from(input)))
        .await
        .unwrap();
    out.map(|v| v[0].to_json())
}

async fn run(slot: &Arc<NodeSlot>, input: serde_json::Value) -> weir_engine::Result<serde_json::Value> {
    let p = Process::new();
    let out = run_in(slot, &p, input).await;
    p.exit(None);
    out
}

#[tokio::test]
async fn the_node_answers_each_op_with_a_tensor_value() {
    let mut g = Graph::new();
    let locks = GpuLocks::new();
    let add = node(&mut g, Op::Add, &locks, WAIT);
    let out = run(
        &add,
        json!([tensor(&[2], &[1.0, 2.0]), tensor(&[2], &[10.0, 0.5])]),
    )
    .await
    .unwrap();
    assert_eq!(out, tensor(&[2], &[11.0, 2.5]));
    let mul = node(&mut g, Op::Mul, &locks, WAIT);
    let out = run(
        &mul,
        json!([tensor(&[1, 2], &[3.0, -1.0]), tensor(&[1, 2], &[2.0, 4.0])]),
    )
    .await
    .unwrap();
    assert_eq!(out, tensor(&[1, 2], &[6.0, -4.0]));
    let relu = node(&mut g, Op::Relu, &locks, WAIT);
    // Integers and integral floats are numbers and sizes alike.
    let out = run(&relu, json!({"shape": [3.0], "data": [-1, 0, 2.5]}))
        .await
        .unwrap();
    assert_eq!(out, tensor(&[3], &[0.0, 0.0, 2.5]));
    let matmul = node(&mut g, Op::Matmul, &locks, WAIT);
    let a = tensor(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = tensor(&[3, 1], &[1.0, 0.0, -1.0]);
    assert_eq!(
        run(&matmul, json!([a, b])).await.unwrap(),
        tensor(&[2, 1], &[-2.0, -2.0])
    );
    g.clear();
}

#[tokio::test]
async fn bad_tensors_fail_before_the_gpu_with_errors_naming_the_node_and_input() {
    let mut g = Graph::new();
    let locks = GpuLocks::new();
    let add = node(&mut g, Op::Add, &locks, WAIT);
    let matmul = node(&mut g, Op::Matmul, &locks, WAIT);
    let relu = node(&mut g, Op::Relu, &locks, WAIT);
    // Held by someone else: a bad input must not queue for the lock (the errors come at once).
    let p = Process::new();
    let _held = locks.acquire(0, "trainer", &p, WAIT).await.unwrap();
    let cases = [
        (&add, json!([tensor(&[2], &[1.0, 2.0]), tensor(&[3], &[1.0, 2.0, 3.0])]), ErrorKind::UnsupportedValue,
         "namespace \"ml\": gpu \"gpu-add\" (op add): input: add needs tensors of one shape, got [2] and [3]"),
        (&add, json!(tensor(&[1], &[1.0])), ErrorKind::UnsupportedType,
         "input: add takes a list of 2 tensors, got map"),
        (&add, json!([tensor(&[1], &[1.0])]), ErrorKind::UnsupportedValue, "input: add takes 2 tensor(s), got 1"),
        (&matmul, json!([tensor(&[2, 3], &[0.0; 6]), tensor(&[2, 3], &[0.0; 6])]), ErrorKind::UnsupportedValue,
         "matmul needs a's columns to equal b's rows, got [2, 3] and [2, 3]"),
        (&matmul, json!([tensor(&[6], &[0.0; 6]), tensor(&[6, 1], &[0.0; 6])]), ErrorKind::UnsupportedValue,
         "matmul needs 2-D tensors, got a of shape [6]"),
        (&relu, json!({"shape": [2, 2], "data": [1, 2, 3]}), ErrorKind::UnsupportedValue,
         "input: shape [2, 2] holds 4 element(s) but data has 3"),
        (&relu, json!({"shape": [-1], "data": []}), ErrorKind::UnsupportedValue, "input: shape[0] must be a size"),
        (&relu, json!({"shape": [1], "data": ["x"]}), ErrorKind::UnsupportedType, "input: data[0] must be a number, got string"),
        (&relu, json!({"shape": [1], "data": [1e300]}), ErrorKind::UnsupportedValue, "beyond f32's range"),
        (&relu, json!({"data": [1]}), ErrorKind::UnsupportedType, "input: a tensor needs shape"),
        (&relu, json!([1, 2]), ErrorKind::UnsupportedType, "input: a tensor is a map {shape, data}, got list"),
        (&relu, json!({"shape": [0], "data": []}), ErrorKind::UnsupportedValue, "input: shape [0] holds no element"),
    ];
    for (slot, input, kind, message) in cases {
        let err = run(slot, input.clone()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{input}: {err}");
        assert!(err.message().contains(message), "{input}: {err}");
    }
    g.clear();
}

#[derive(Default)]
struct Waits(Mutex<Vec<String>>);

impl Observer for Waits {
    fn node_waiting(&self, node: &str, _p: &Process, reason: &str) {
        self.0.lock().push(format!("{node}: {reason}"));
    }
}

#[tokio::test]
async fn the_node_waits_for_the_gpu_lock_reports_waiting_and_times_out_naming_the_holder() {
    let mut g = Graph::new();
    let locks = GpuLocks::new();
    let patient = node(&mut g, Op::Relu, &locks, WAIT);
    let holder = Process::new();
    let held = locks.acquire(0, "trainer", &holder, WAIT).await.unwrap();

    // A node that gives up quickly: the error names the holder.
    let hasty = {
        let n = GpuNode::new(
            Arc::new(Cpu),
            Op::Relu,
            locks.clone(),
            Duration::from_millis(50),
            &CompileContext::new("ml", "hasty"),
        );
        g.add("hasty", n, &[])
    };
    let err = run(&hasty, tensor(&[1], &[1.0])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().contains(
            "namespace \"ml\": gpu \"hasty\" (op relu): node \"hasty\": GPU 0 held by node \"trainer\""
        ),
        "{err}"
    );

    // A patient node waits, is reported waiting, and runs once the holder lets go.
    let waits = Arc::new(Waits::default());
    let p = Process::observed(waits.clone());
    let call = {
        let (slot, p) = (patient.clone(), p.clone());
        tokio::spawn(async move { run_in(&slot, &p, tensor(&[2], &[-3.0, 3.0])).await })
    };
    assert!(weir_engine::testing::eventually(WAIT, || !waits.0.lock().is_empty()).await);
    assert_eq!(*waits.0.lock(), vec!["gpu-relu: waiting for GPU 0".to_string()]);
    assert!(!call.is_finished());
    drop(held);
    let out = tokio::time::timeout(WAIT, call).await.unwrap().unwrap().unwrap();
    assert_eq!(out, tensor(&[2], &[0.0, 3.0]));
    assert_eq!(locks.holder(0), None);
    p.exit(None);
    g.clear();
}

const NAMESPACE: &str = r#"
- kind: snippet
  namespace: ml
  name: hello
  language: text
  code: hi
- kind: gpu
  namespace: ml
  name: double
  op: add
"#;

#[tokio::test]
async fn on_a_host_without_a_cuda_driver_the_gpu_spec_is_inactive_and_the_rest_serves() {
    let mut table = Table::new("ml", Arc::new(crate::scheme()), HostEnv::new());
    table.apply(parse_specs(NAMESPACE, Format::Yaml).unwrap(), &[], &[]);
    assert_eq!(table.status("hello"), Some(Status::Active));
    let hello = table.slot("hello").unwrap();
    assert_eq!(run(&hello, json!("anything")).await.unwrap(), json!("hi"));

    let status = table.status("double");
    if weir_cuda::driver_present() {
        // A host with a driver: the spec loads (or names the device's problem) and adds on the GPU.
        match status {
            Some(Status::Active) => {
                let double = table.slot("double").unwrap();
                let x = tensor(&[3], &[1.0, -2.0, 0.5]);
                let out = run(&double, json!([x, x])).await.unwrap();
                assert_eq!(out, tensor(&[3], &[2.0, -4.0, 1.0]));
            }
            other => panic!("a CUDA driver is present but the gpu spec is {other:?}"),
        }
    } else {
        let Some(Status::Inactive(error)) = status else {
            panic!("the gpu spec should be inactive here, is {status:?}");
        };
        assert!(
            error.starts_with(
                "namespace \"ml\": spec \"double\" (kind gpu): field \"device\": no CUDA driver found (looked for libcuda.so, libcuda.so.1 and "
            ),
            "{error}"
        );
        assert!(
            table.slot("double").and_then(|s| s.runtime()).is_none(),
            "nothing loaded for it"
        );
    }
    table.close();
}

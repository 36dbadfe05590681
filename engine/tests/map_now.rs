//! Nodes that map an input at once (`Node::map_now`): the session handles a burst of them in one
//! lock, and what users see is what `on_packet` would give: replies in request order, errors as
//! replies or on `error`, a panic as an error reply, inputs handed to `on_packet`, and the wait at a
//! link's credit bound.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weir_engine::testing::{map, FnNode, Graph};
use weir_engine::{
    call, Call, Error, ErrorKind, Input, MapNow, Node, NodeOptions, OutPort, Packet, Process, Result, Value,
};

/// n → 10·n at once; n ≡ 3 (mod 5) fails, n ≡ 1 (mod 4) goes to `on_packet` (which waits a turn
/// first), 7 panics.
#[derive(Clone, Default)]
struct Tenfold {
    handled_later: Arc<AtomicUsize>,
}

impl Node for Tenfold {
    type State = ();
    const MAPS_NOW: bool = true;

    fn map_now(&self, _: &mut (), _: &Arc<Process>, input: Input) -> MapNow {
        let Input { port, packet } = input;
        let Packet { value, origin } = packet;
        let n = value.as_i64().unwrap_or(-1);
        if n == 7 {
            panic!("seven is not mapped");
        }
        if n % 5 == 3 {
            return MapNow::Fail {
                error: Error::node(format!("{n} is refused")),
                origin,
            };
        }
        if n % 4 == 1 {
            return MapNow::Wait(Input {
                port,
                packet: Packet::new(value, origin),
            });
        }
        MapNow::Out(Packet::new(Value::from(n * 10), origin))
    }

    async fn on_packet(&self, _: &mut (), cx: &mut weir_engine::Cx, input: Input) -> Result<()> {
        self.handled_later.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
        let n = input.packet.value.as_i64().unwrap_or(-1);
        cx.emit(OutPort::OUT, Value::from(n * 10)).await
    }
}

/// The inputs of the tests: 0..40 without 7.
fn inputs() -> Vec<i64> {
    (0..40).filter(|n| *n != 7).collect()
}

/// Sends every input in one process, then reads the replies in order: `Ok(values)` or the error.
async fn stream(
    head: &Arc<weir_engine::NodeSlot>,
    inputs: &[i64],
) -> Vec<std::result::Result<Vec<Value>, Error>> {
    let p = Process::new();
    let mut c = Call::open(head, &p, 0).unwrap();
    let mut replies = Vec::new();
    for n in inputs {
        c.send(Value::from(*n)).await.unwrap();
    }
    c.close();
    while let Some(r) = c.reply().await {
        replies.push(r);
    }
    p.exit(None);
    replies
}

fn refused(n: i64) -> bool {
    n % 5 == 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_inputs_are_answered_in_order_with_their_errors_and_fall_backs() {
    let mut g = Graph::new();
    let node = Tenfold::default();
    let head = g.add("tenfold", node.clone(), &[]);
    let replies = stream(&head, &inputs()).await;
    assert_eq!(replies.len(), inputs().len());
    for (n, r) in inputs().into_iter().zip(replies) {
        if refused(n) {
            let e = r.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Node, "input {n}");
            assert_eq!(e.message(), format!("{n} is refused"));
        } else {
            assert_eq!(r.unwrap(), vec![Value::from(n * 10)], "input {n}");
        }
    }
    let later = inputs()
        .into_iter()
        .filter(|n| !refused(*n) && n % 4 == 1)
        .count();
    assert_eq!(node.handled_later.load(Ordering::SeqCst), later);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_packets_wait_at_a_links_bound_and_keep_their_order() {
    let mut g = Graph::new();
    g.add_with(
        "slow",
        FnNode(|v: Value| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(Value::from(v.as_i64().unwrap_or(-1) + 1))
        }),
        &[],
        // Two unanswered packets per process on the link into `slow`: a burst outruns it.
        NodeOptions {
            buffer: 2,
            ..NodeOptions::default()
        },
    );
    let head = g.add("tenfold", Tenfold::default(), &[(OutPort::OUT, "slow", 0)]);
    let replies = stream(&head, &inputs()).await;
    let got: Vec<String> = replies
        .into_iter()
        .map(|r| match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => e.message().to_string(),
        })
        .collect();
    let want: Vec<String> = inputs()
        .into_iter()
        .map(|n| {
            if refused(n) {
                format!("{n} is refused")
            } else {
                format!("{:?}", vec![Value::from(n * 10 + 1)])
            }
        })
        .collect();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_error_goes_to_error_when_it_is_connected() {
    let mut g = Graph::new();
    g.add("caught", map(|v| Ok(Value::from(format!("caught: {v}")))), &[]);
    let head = g.add("tenfold", Tenfold::default(), &[(OutPort::Error, "caught", 0)]);
    let replies = stream(&head, &[2, 3, 4]).await;
    let replies: Vec<Vec<Value>> = replies.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        replies,
        vec![
            vec![Value::from(20)],
            vec![Value::from("caught: 3 is refused")],
            vec![Value::from(40)],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_map_now_is_an_error_reply_and_the_node_goes_on() {
    let mut g = Graph::new();
    let head = g.add("tenfold", Tenfold::default(), &[]);
    let replies = stream(&head, &[6, 7]).await;
    assert_eq!(replies[0].as_ref().unwrap(), &vec![Value::from(60)]);
    let e = replies[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Panic);
    assert!(e.message().contains("seven is not mapped"), "{e}");
    // Another process is served as before.
    let p = Process::new();
    assert_eq!(
        call(&head, &p, 0, Value::from(9)).await.unwrap(),
        vec![Value::from(90)]
    );
}

//! Templates for the common node shapes, so a kind writes only its logic: [`OneToOne`] (one value in,
//! one out), [`OneToMany`] (one value in, at most one out per out port), [`Streaming`] (one value in,
//! a stream out, each packet a child of the input's lineage), and [`Pass`]. Many-to-one lives in
//! `sync.rs`.

use std::future::Future;
use std::sync::Arc;

use futures::{Stream, StreamExt};

use crate::error::Result;
use crate::node::{Input, MapNow, Node, OutPort};
use crate::process::Process;
use crate::session::Cx;
use crate::value::Value;

/// One value in, one value out on `out`.
pub trait OneToOne: Send + Sync + 'static {
    fn call(&self, process: &Arc<Process>, value: Value) -> impl Future<Output = Result<Value>> + Send;
}

/// Wraps a [`OneToOne`] as a node.
pub struct OneToOneNode<T>(pub T);

impl<T: OneToOne> Node for OneToOneNode<T> {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let out = self.0.call(cx.process(), input.packet.value).await?;
        cx.emit(OutPort::OUT, out).await
    }
}

/// One value in; element i of the result, when present, goes out on `out[i]`.
pub trait OneToMany: Send + Sync + 'static {
    fn call(
        &self,
        process: &Arc<Process>,
        value: Value,
    ) -> impl Future<Output = Result<Vec<Option<Value>>>> + Send;
}

/// Wraps a [`OneToMany`] as a node.
pub struct OneToManyNode<T>(pub T);

impl<T: OneToMany> Node for OneToManyNode<T> {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let outs = self.0.call(cx.process(), input.packet.value).await?;
        for (i, v) in outs.into_iter().enumerate() {
            if let Some(v) = v {
                cx.emit(OutPort::Out(i), v).await?;
            }
        }
        Ok(())
    }
}

/// One value in, a stream out: each item is emitted as soon as it is produced.
pub trait Streaming: Send + Sync + 'static {
    fn call(&self, process: &Arc<Process>, value: Value) -> impl Stream<Item = Result<Value>> + Send;
}

/// Wraps a [`Streaming`] as a node.
pub struct StreamingNode<T>(pub T);

impl<T: Streaming> Node for StreamingNode<T> {
    type State = ();
    const STREAMS: bool = true;
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let stream = self.0.call(&process, input.packet.value);
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            cx.emit(OutPort::OUT, item?).await?;
        }
        Ok(())
    }
}

/// Forwards every packet unchanged, lineage included.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass;

impl Node for Pass {
    type State = ();
    const ON_EOS: bool = false;

    const MAPS_NOW: bool = true;

    fn map_now(&self, _: &mut (), _: &Arc<Process>, input: Input) -> MapNow {
        MapNow::Out(input.packet)
    }

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        cx.emit_packet(OutPort::OUT, input.packet).await
    }
}

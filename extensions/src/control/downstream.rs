//! Calling a node's own targets and reading their replies, for kinds that must see a reply before
//! they answer (`cache` stores it) or that write into another process (`session` writes into a
//! child of each stored session's process). The reply of several links is joined as a fan-out is:
//! element i is the i-th element of each reply that has one (one → it, several → a list in link
//! order), and any error is the error.

use std::sync::Arc;

use weir_engine::{Call, Error, ErrorKind, Process, Result, Target, Value};

/// Sends `value` into every target in `process`, ends the input, and returns the joined reply.
pub async fn call_targets(targets: &[Target], process: &Arc<Process>, value: Value) -> Result<Vec<Value>> {
    match targets {
        [] => Ok(Vec::new()),
        [one] => call_one(one, process, value).await,
        many => {
            let replies =
                futures::future::join_all(many.iter().map(|t| call_one(t, process, value.clone()))).await;
            join(replies)
        }
    }
}

async fn call_one(target: &Target, process: &Arc<Process>, value: Value) -> Result<Vec<Value>> {
    let mut call = Call::open(&target.slot, process, target.port)?;
    call.send(value).await?;
    call.close();
    call.reply()
        .await
        .unwrap_or_else(|| Err(Error::new(ErrorKind::Internal, "no reply came back")))
}

/// The fan-out join of whole replies, in link order.
pub fn join(replies: Vec<Result<Vec<Value>>>) -> Result<Vec<Value>> {
    let mut streams = Vec::with_capacity(replies.len());
    for r in replies {
        streams.push(r?);
    }
    let len = streams.iter().map(Vec::len).max().unwrap_or(0);
    let mut iters: Vec<_> = streams.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let mut row: Vec<Value> = iters.iter_mut().filter_map(Iterator::next).collect();
        out.push(match row.len() {
            1 => row.pop().unwrap_or_default(),
            _ => Value::from(row),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_element_by_element_in_link_order() {
        let a = Ok(vec![Value::from(1), Value::from(2)]);
        let b = Ok(vec![Value::from("x")]);
        assert_eq!(
            join(vec![a, b]),
            Ok(vec![
                Value::list([Value::from(1), Value::from("x")]),
                Value::from(2)
            ])
        );
        assert_eq!(join(vec![Ok(vec![]), Ok(vec![])]), Ok(vec![]));
        let err = Error::node("no");
        assert_eq!(join(vec![Ok(vec![Value::Null]), Err(err.clone())]), Err(err));
    }
}

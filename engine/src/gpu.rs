//! The GPU lock (DESIGN.md, Semantics): one holder per device at a time, waiters served first come
//! first served, a wait that times out fails with an error naming the holder, and a node that waits
//! is reported `waiting` to whoever observes its process (a job's `node_update`). Cancelling the
//! waiting process ends the wait. The lock knows nothing of CUDA: it orders work, the `gpu` kinds do
//! the work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, ErrorKind};
use crate::process::{Process, ProcessId};

/// Who holds a device.
#[derive(Debug, Clone)]
struct Holder {
    node: String,
    process: ProcessId,
    since: Instant,
}

#[derive(Debug)]
struct Device {
    /// One permit: tokio's semaphore queues waiters in order (FIFO).
    permit: Arc<Semaphore>,
    holder: Arc<Mutex<Option<Holder>>>,
}

/// The locks of every device of a host.
#[derive(Debug, Clone, Default)]
pub struct GpuLocks {
    devices: Arc<Mutex<HashMap<u32, Arc<Device>>>>,
}

/// Holding a device; dropping it lets the next waiter in.
#[derive(Debug)]
pub struct GpuGuard {
    _permit: OwnedSemaphorePermit,
    holder: Arc<Mutex<Option<Holder>>>,
    device: u32,
}

impl GpuGuard {
    pub fn device(&self) -> u32 {
        self.device
    }
}

impl Drop for GpuGuard {
    fn drop(&mut self) {
        // The holder is cleared before the permit goes back (fields drop after this body).
        *self.holder.lock() = None;
    }
}

impl GpuLocks {
    pub fn new() -> Self {
        Self::default()
    }

    fn device(&self, device: u32) -> Arc<Device> {
        self.devices
            .lock()
            .entry(device)
            .or_insert_with(|| {
                Arc::new(Device {
                    permit: Arc::new(Semaphore::new(1)),
                    holder: Arc::new(Mutex::new(None)),
                })
            })
            .clone()
    }

    /// Who holds `device` now, as a node name.
    pub fn holder(&self, device: u32) -> Option<String> {
        self.device(device).holder.lock().as_ref().map(|h| h.node.clone())
    }

    /// Takes `device` for `node` working in `process`, waiting in line for at most `timeout`.
    pub async fn acquire(
        &self,
        device: u32,
        node: &str,
        process: &Arc<Process>,
        timeout: Duration,
    ) -> Result<GpuGuard, Error> {
        let d = self.device(device);
        let permit = match d.permit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some(o) = process.observer() {
                    o.node_waiting(node, process, &format!("waiting for GPU {device}"));
                }
                let wait = tokio::time::timeout(timeout, d.permit.clone().acquire_owned());
                tokio::select! {
                    biased;
                    _ = process.done() => return Err(process.ended_error()),
                    got = wait => match got {
                        Ok(Ok(p)) => {
                            if let Some(o) = process.observer() {
                                o.node_resumed(node, process);
                            }
                            p
                        }
                        Ok(Err(_)) => {
                            return Err(Error::new(ErrorKind::Internal, format!("GPU {device}: lock closed")))
                        }
                        Err(_) => {
                            let holder = d.holder.lock().clone();
                            let by = match holder {
                                Some(h) => format!(
                                    "held by node \"{}\" (process {}) for {:.1}s",
                                    h.node,
                                    h.process,
                                    h.since.elapsed().as_secs_f64()
                                ),
                                None => "busy".to_string(),
                            };
                            return Err(Error::new(
                                ErrorKind::Timeout,
                                format!(
                                    "node \"{node}\": GPU {device} {by}; gave up after {}",
                                    humantime::format_duration(timeout)
                                ),
                            ));
                        }
                    }
                }
            }
        };
        *d.holder.lock() = Some(Holder {
            node: node.to_string(),
            process: process.id(),
            since: Instant::now(),
        });
        Ok(GpuGuard {
            _permit: permit,
            holder: d.holder.clone(),
            device,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::observe::Observer;

    // Tests run on tokio's current-thread runtime: a waiter that has reported `waiting` has also
    // joined the line (both happen in the same poll, before it yields).
    #[tokio::test]
    async fn waiters_get_the_device_in_the_order_they_asked() {
        let locks = GpuLocks::new();
        let waits = Arc::new(Waits::default());
        let p = Process::observed(waits.clone());
        let first = locks.acquire(0, "a", &p, Duration::from_secs(10)).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (i, name) in ["b", "c", "d"].into_iter().enumerate() {
            let (locks, p, order) = (locks.clone(), p.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let g = locks.acquire(0, name, &p, Duration::from_secs(10)).await.unwrap();
                order.lock().push(name);
                tokio::task::yield_now().await;
                drop(g);
            }));
            while waits.0.lock().len() <= i {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(locks.holder(0).as_deref(), Some("a"));
        drop(first);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock(), vec!["b", "c", "d"]);
        assert_eq!(locks.holder(0), None);
    }

    #[tokio::test]
    async fn a_wait_that_times_out_names_the_holder() {
        let locks = GpuLocks::new();
        let p = Process::new();
        let _held = locks
            .acquire(1, "trainer", &p, Duration::from_secs(10))
            .await
            .unwrap();
        let err = locks
            .acquire(1, "infer", &p, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            err.message()
                .contains("node \"infer\": GPU 1 held by node \"trainer\""),
            "{err}"
        );
        // Other devices are free.
        assert!(locks
            .acquire(2, "other", &p, Duration::from_millis(50))
            .await
            .is_ok());
    }

    #[derive(Default)]
    struct Waits(Mutex<Vec<String>>);
    impl Observer for Waits {
        fn node_waiting(&self, node: &str, _p: &Process, reason: &str) {
            self.0.lock().push(format!("{node}: {reason}"));
        }
    }

    #[tokio::test]
    async fn a_waiting_node_is_reported_and_cancel_ends_the_wait() {
        let locks = GpuLocks::new();
        let holder = Process::new();
        let _held = locks
            .acquire(0, "a", &holder, Duration::from_secs(10))
            .await
            .unwrap();
        let waits = Arc::new(Waits::default());
        let p = Process::observed(waits.clone());
        let waiting = {
            let (locks, p) = (locks.clone(), p.clone());
            tokio::spawn(async move { locks.acquire(0, "b", &p, Duration::from_secs(30)).await })
        };
        while waits.0.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(*waits.0.lock(), vec!["b: waiting for GPU 0".to_string()]);
        p.cancel();
        let err = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
    }
}

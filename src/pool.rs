//! The bounded CPU pool: renders run on `workers` dedicated threads, never on the async reactor.
//!
//! At most `workers + queue_size` jobs are admitted at once; past that, [`CpuPool::run`] answers
//! [`PoolError::Overloaded`] at once (503 with `Retry-After`) instead of queueing without bound.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// All workers are busy and the queue is full.
    #[error("server busy: every render worker is busy and the queue is full")]
    Overloaded,
    /// The job panicked (a bug; the worker survives).
    #[error("render panicked: {0}")]
    Panicked(String),
}

#[derive(Default)]
struct Counters {
    admitted: AtomicUsize,
    running: AtomicUsize,
}

/// A fixed set of worker threads with an admission limit.
#[derive(Clone)]
pub struct CpuPool {
    sender: crossbeam_channel::Sender<Job>,
    counters: Arc<Counters>,
    capacity: usize,
    workers: usize,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool").field("workers", &self.workers).field("capacity", &self.capacity).finish()
    }
}

impl CpuPool {
    /// Starts `workers` threads named `render-N`; admits at most `workers + queue_size` jobs.
    pub fn new(workers: usize, queue_size: usize) -> CpuPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let counters = Arc::new(Counters::default());
        for n in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("render-{n}"))
                .spawn(move || {
                    while let Ok(job) = receiver.recv() {
                        job();
                    }
                })
                .expect("spawn render worker");
        }
        CpuPool { sender, counters, capacity: workers + queue_size, workers }
    }

    /// Runs `f` on a worker and waits for its result without blocking the reactor.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admitted = self.counters.admitted.fetch_add(1, Ordering::AcqRel);
        if admitted >= self.capacity {
            self.counters.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(PoolError::Overloaded);
        }
        let (tx, rx) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let job: Job = Box::new(move || {
            counters.running.fetch_add(1, Ordering::AcqRel);
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| PoolError::Panicked(panic_message(p.as_ref())));
            counters.running.fetch_sub(1, Ordering::AcqRel);
            counters.admitted.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(result);
        });
        self.sender.send(job).expect("render workers live as long as the pool");
        rx.await.expect("a worker always answers")
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        self.counters.running.load(Ordering::Acquire)
    }

    /// Jobs admitted but not yet started.
    pub fn queued(&self) -> usize {
        self.counters.admitted.load(Ordering::Acquire).saturating_sub(self.running())
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_refuses_past_capacity() {
        let pool = CpuPool::new(1, 1);
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let block =
            |rx: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>| move || rx.lock().unwrap().recv().unwrap();
        let first = tokio::spawn({
            let pool = pool.clone();
            let f = block(release_rx.clone());
            async move { pool.run(f).await }
        });
        let second = tokio::spawn({
            let pool = pool.clone();
            let f = block(release_rx.clone());
            async move { pool.run(f).await }
        });
        while pool.running() + pool.queued() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| ()).await, Err(PoolError::Overloaded));
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(pool.run(|| 1).await, Ok(1));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_survives() {
        let pool = CpuPool::new(1, 0);
        let r = pool.run(|| -> u8 { panic!("boom") }).await;
        assert_eq!(r, Err(PoolError::Panicked("boom".into())));
        assert_eq!(pool.run(|| 2).await, Ok(2));
    }
}

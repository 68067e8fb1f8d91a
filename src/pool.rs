//! The bounded CPU pool: renders run on `workers` dedicated threads, never on the async reactor.
//!
//! At most `workers + queue_size` jobs are admitted at once; past that, [`CpuPool::run`] answers
//! [`PoolError::Overloaded`] at once (503 with `Retry-After`) instead of queueing without bound.
//! Jobs that decode also draw on a budget of source pixels, so that many workers decoding large
//! images at once cannot add up to more memory than the budget allows.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, oneshot};

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

/// A fixed set of worker threads with an admission limit and a decode budget.
#[derive(Clone)]
pub struct CpuPool {
    sender: crossbeam_channel::Sender<Job>,
    counters: Arc<Counters>,
    capacity: usize,
    workers: usize,
    /// Megapixels of sources that may be decoding at once.
    budget: Arc<Semaphore>,
    budget_megapixels: u32,
}

/// An admitted job's place; given back when dropped, whether the job ran or its caller left.
struct Admission(Arc<Counters>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool").field("workers", &self.workers).field("capacity", &self.capacity).finish()
    }
}

impl CpuPool {
    /// Starts `workers` threads named `render-N`; admits at most `workers + queue_size` jobs, and
    /// lets jobs decoding at most `decode_budget_pixels` source pixels in all run at once.
    pub fn new(workers: usize, queue_size: usize, decode_budget_pixels: u64) -> CpuPool {
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
        let budget_megapixels = megapixels(decode_budget_pixels).max(1);
        CpuPool {
            sender,
            counters,
            capacity: workers + queue_size,
            workers,
            budget: Arc::new(Semaphore::new(budget_megapixels as usize)),
            budget_megapixels,
        }
    }

    /// Runs `f` on a worker and waits for its result without blocking the reactor. `f` decodes
    /// about `decode_pixels` source pixels (0 for jobs that decode nothing); a job bigger than the
    /// whole budget runs alone.
    pub async fn run<T, F>(&self, decode_pixels: u64, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admitted = self.counters.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(Arc::clone(&self.counters));
        if admitted >= self.capacity {
            return Err(PoolError::Overloaded);
        }
        let permit = if decode_pixels == 0 {
            None
        } else {
            let cost = megapixels(decode_pixels).min(self.budget_megapixels);
            Some(Arc::clone(&self.budget).acquire_many_owned(cost).await.expect("the budget is never closed"))
        };
        let (tx, rx) = oneshot::channel();
        let counters = Arc::clone(&self.counters);
        let job: Job = Box::new(move || {
            counters.running.fetch_add(1, Ordering::AcqRel);
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| PoolError::Panicked(panic_message(p.as_ref())));
            counters.running.fetch_sub(1, Ordering::AcqRel);
            drop(permit);
            drop(admission);
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

/// Whole megapixels, rounded up: the unit of the decode budget.
fn megapixels(pixels: u64) -> u32 {
    u32::try_from(pixels.div_ceil(1_000_000)).unwrap_or(u32::MAX)
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
        let pool = CpuPool::new(1, 1, 100_000_000);
        assert_eq!(pool.run(0, || 6 * 7).await, Ok(42));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let block =
            |rx: Arc<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>| move || rx.lock().unwrap().recv().unwrap();
        let first = tokio::spawn({
            let pool = pool.clone();
            let f = block(release_rx.clone());
            async move { pool.run(0, f).await }
        });
        let second = tokio::spawn({
            let pool = pool.clone();
            let f = block(release_rx.clone());
            async move { pool.run(0, f).await }
        });
        while pool.running() + pool.queued() < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(0, || ()).await, Err(PoolError::Overloaded));
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(()));
        assert_eq!(pool.run(0, || 1).await, Ok(1));
    }

    #[tokio::test]
    async fn decodes_wait_for_the_pixel_budget_and_callers_that_leave_give_their_place_back() {
        let pool = CpuPool::new(2, 10, 10_000_000);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let big = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(8_000_000, move || release_rx.recv().unwrap()).await }
        });
        while pool.running() < 1 {
            tokio::task::yield_now().await;
        }
        // 8 of 10 megapixels are taken: a 5 MP decode waits although a worker is free.
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(5_000_000, || 5).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!((pool.running(), pool.queued()), (1, 1));
        assert_eq!(pool.run(0, || 0).await, Ok(0), "jobs that decode nothing do not wait");
        release_tx.send(()).unwrap();
        assert_eq!(big.await.unwrap(), Ok(()));
        assert_eq!(waiting.await.unwrap(), Ok(5));
        // A caller dropped while waiting for the budget gives its admission back.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let holder = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(10_000_000, move || rx.recv().unwrap()).await }
        });
        while pool.running() < 1 {
            tokio::task::yield_now().await;
        }
        let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), pool.run(1, || ())).await;
        assert!(gave_up.is_err());
        tx.send(()).unwrap();
        holder.await.unwrap().unwrap();
        assert_eq!((pool.running(), pool.queued()), (0, 0));
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_survives() {
        let pool = CpuPool::new(1, 0, 100_000_000);
        let r = pool.run(0, || -> u8 { panic!("boom") }).await;
        assert_eq!(r, Err(PoolError::Panicked("boom".into())));
        assert_eq!(pool.run(0, || 2).await, Ok(2));
    }
}

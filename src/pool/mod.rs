//! The one admission point for CPU work: renders, upload validation, working copies, moderation
//! pictures, jobs and background renders all run on dedicated threads (`workers` in each lane),
//! never on the async reactor, and are let in here by one set of rules (`queue.rs`): classes
//! served by priority, the payers who used little worker time lately before a heavy one
//! (`usage.rs`), work in two lanes so that light clients' requests always have every worker, slow
//! work on at most half the workers, a decode budget of source pixels. Nothing polls: a waiter is
//! woken when its turn comes.
//!
//! Work that answers a client is refused with [`PoolError::Overloaded`] (503 with `Retry-After`)
//! once `queue_size` of it waits; the server's own work waits as long as it must.
//!
//! Work nobody waits for (jobs, background renders), and a heavy payer's, runs in the lower lane:
//! on threads of their own, [`AFTER_THE_ANSWER_NICE`] steps nicer than the process, beside the
//! client lane's. On a core it shares with a request's render or the reactors, it gets about a
//! tenth of the time, so that the work a client paid for ahead (an upload's `?wait=false`
//! outputs), or a client asking for render after render, does not slow other clients' answers;
//! on a core they leave idle it gets all of it.

mod queue;
mod usage;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

pub use queue::{Class, Cost, Whose};
pub use usage::HEAVY_SECONDS;

use queue::{Grant, Queue, Sizes};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Why a piece of work did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every worker is busy and the line of work answering clients is full.
    #[error("server busy: every render worker is busy and the queue is full")]
    Overloaded,
    /// The work panicked (a bug; the worker survives).
    #[error("render panicked: {0}")]
    Panicked(String),
}

/// A waiter in line: its ticket (to find it if its caller leaves) and where its slot goes.
struct Waiter {
    ticket: u64,
    turn: oneshot::Sender<Slot>,
}

/// How much nicer than the process the threads that run work after the answer are (CFS gives a
/// thread ten steps nicer about a tenth of the weight).
pub const AFTER_THE_ANSWER_NICE: i32 = 10;

struct Shared {
    /// To the workers that answer clients (requests and uploads).
    sender: crossbeam_channel::Sender<Job>,
    /// To the workers of the lower lane (jobs, background renders, heavy payers), at a lower priority.
    after_the_answer: crossbeam_channel::Sender<Job>,
    queue: Mutex<Queue<Waiter>>,
    tickets: AtomicU64,
    /// Closures executing on a worker now, and of those, in the lower lane.
    executing: AtomicUsize,
    executing_lower: AtomicUsize,
    workers: usize,
}

impl Shared {
    /// Starts whatever may start now: each waiter whose turn it is gets its slot.
    fn dispatch(self: &Arc<Self>, queue: &mut Queue<Waiter>) {
        let now = Instant::now();
        while let Some((grant, waiter)) = queue.next(now) {
            let inner = SlotInner { shared: Some(Arc::clone(self)), grant, used_nanos: AtomicU64::new(0) };
            let slot = Slot { inner: Arc::new(inner) };
            if let Err(mut unsent) = waiter.turn.send(slot) {
                // The caller left between its withdrawal check and now: the grant goes back
                // here, under the lock, rather than through the slot's drop.
                Arc::get_mut(&mut unsent.inner).expect("not shared yet").grant_released();
                queue.release(grant, Duration::ZERO, now);
            }
        }
    }

    fn release(self: &Arc<Self>, grant: Grant, used: Duration) {
        let mut queue = self.queue.lock().expect("not poisoned");
        queue.release(grant, used, Instant::now());
        self.dispatch(&mut queue);
    }
}

/// The worker threads and the line of work waiting for them.
#[derive(Clone)]
pub struct CpuPool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuPool").field("workers", &self.shared.workers).finish_non_exhaustive()
    }
}

/// A worker held for one caller: the work it runs through [`Slot::run`] holds what the slot was
/// admitted with, and gives it back when the slot (and anything still running in it) is gone.
pub struct Slot {
    inner: Arc<SlotInner>,
}

struct SlotInner {
    /// `None` once its grant went back another way (its caller had left).
    shared: Option<Arc<Shared>>,
    grant: Grant,
    /// Time its closures ran on a worker, charged to its payer when it is given back.
    used_nanos: AtomicU64,
}

impl SlotInner {
    fn grant_released(&mut self) {
        self.shared = None;
    }
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.release(self.grant, Duration::from_nanos(*self.used_nanos.get_mut()));
        }
    }
}

impl CpuPool {
    /// Starts `workers` threads named `render-N`; lets at most `queue_size` pieces of work that
    /// answer clients wait, and jobs decoding at most `decode_budget_pixels` source pixels in all
    /// run at once.
    pub fn new(workers: usize, queue_size: usize, decode_budget_pixels: u64) -> CpuPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let (after_the_answer, later) = crossbeam_channel::unbounded::<Job>();
        // As many of each as there are workers: the queue's rules decide how many run at once.
        for n in 0..workers {
            spawn_worker(format!("render-{n}"), receiver.clone(), 0);
            spawn_worker(format!("render-bg-{n}"), later.clone(), AFTER_THE_ANSWER_NICE);
        }
        let sizes = Sizes { workers, queue_size, budget_megapixels: queue::megapixels(decode_budget_pixels).max(1) };
        let shared = Shared {
            sender,
            after_the_answer,
            queue: Mutex::new(Queue::new(sizes)),
            tickets: AtomicU64::new(0),
            executing: AtomicUsize::new(0),
            executing_lower: AtomicUsize::new(0),
            workers,
        };
        CpuPool { shared: Arc::new(shared) }
    }

    /// Waits for a worker for work of `whose` (a class, and the payer charged for its worker
    /// time) costing `cost`, by the rules of `queue.rs`.
    pub async fn admit(&self, whose: impl Into<Whose>, cost: Cost) -> Result<Slot, PoolError> {
        let whose = whose.into();
        let class = whose.class;
        let ticket = self.shared.tickets.fetch_add(1, Ordering::Relaxed);
        let (turn, granted) = oneshot::channel();
        {
            let mut queue = self.shared.queue.lock().expect("not poisoned");
            queue.push(whose, cost, Waiter { ticket, turn });
            self.shared.dispatch(&mut queue);
            // Still in line, and the line of work answering clients is longer than allowed.
            if class.answers_a_client() && queue.overflows() && queue.withdraw(class, |w| w.ticket == ticket).is_some()
            {
                return Err(PoolError::Overloaded);
            }
        }
        // If this caller leaves while it waits, its place goes back.
        let mut withdrawal = Withdrawal { shared: &self.shared, class, ticket, armed: true };
        let slot = granted.await.expect("a waiter is answered or withdrawn, never dropped");
        withdrawal.armed = false;
        Ok(slot)
    }

    /// Runs `f` on a worker once admitted as `whose` with `cost`, and waits for its result
    /// without blocking the reactor.
    pub async fn run<T, F>(&self, whose: impl Into<Whose>, cost: Cost, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.admit(whose, cost).await?.run(f).await
    }

    /// Work executing on a worker now.
    pub fn running(&self) -> usize {
        self.shared.executing.load(Ordering::Acquire)
    }

    /// Work executing in the lower lane now (jobs, background renders, heavy payers' work).
    pub fn running_lower(&self) -> usize {
        self.shared.executing_lower.load(Ordering::Acquire)
    }

    /// Work admitted to nothing yet, by class (in the order of [`Class::ALL`]).
    pub fn waiting(&self) -> [usize; 4] {
        self.shared.queue.lock().expect("not poisoned").waiting()
    }

    /// Work waiting, all classes.
    pub fn queued(&self) -> usize {
        self.waiting().iter().sum()
    }

    /// Workers held (running, or admitted and about to run).
    pub fn held(&self) -> usize {
        self.shared.queue.lock().expect("not poisoned").running()
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.shared.workers
    }
}

/// Takes a waiter out of line when its caller leaves before its turn.
struct Withdrawal<'a> {
    shared: &'a Arc<Shared>,
    class: Class,
    ticket: u64,
    armed: bool,
}

impl Drop for Withdrawal<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut queue = self.shared.queue.lock().expect("not poisoned");
            // Not in line any more: its slot was sent, and is dropped with the receiver.
            let _ = queue.withdraw(self.class, |w| w.ticket == self.ticket);
        }
    }
}

impl Slot {
    /// Runs `f` on the worker this slot holds and waits for its result. A slot may run several
    /// closures one after the other (a job's outputs); what it holds goes back when both the
    /// slot and its last closure are done.
    pub async fn run<T, F>(&mut self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let shared = Arc::clone(self.inner.shared.as_ref().expect("an admitted slot"));
        let held = Arc::clone(&self.inner);
        let (tx, rx) = oneshot::channel();
        let executing = Arc::clone(&shared);
        let lower = self.inner.grant.lower_priority();
        let job: Job = Box::new(move || {
            executing.executing.fetch_add(1, Ordering::AcqRel);
            if lower {
                executing.executing_lower.fetch_add(1, Ordering::AcqRel);
            }
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| PoolError::Panicked(panic_message(p.as_ref())));
            let used = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            held.used_nanos.fetch_add(used, Ordering::Relaxed);
            if lower {
                executing.executing_lower.fetch_sub(1, Ordering::AcqRel);
            }
            executing.executing.fetch_sub(1, Ordering::AcqRel);
            drop(held);
            let _ = tx.send(result);
        });
        let lane = if lower { &shared.after_the_answer } else { &shared.sender };
        lane.send(job).expect("render workers live as long as the pool");
        rx.await.expect("a worker always answers")
    }
}

/// Starts a worker thread that runs what `jobs` brings, `nice` steps nicer than the process.
fn spawn_worker(name: String, jobs: crossbeam_channel::Receiver<Job>, nice: i32) {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            if nice != 0 {
                lower_priority(nice);
            }
            while let Ok(job) = jobs.recv() {
                job();
            }
        })
        .expect("spawn render worker");
}

/// Raises this thread's nice value by `nice` above the process's (Linux: per thread, up to 19);
/// raising it needs no privilege. Where it fails the thread keeps the process's priority.
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid, getpriority and setpriority take and return plain integers.
        let failed = unsafe {
            let tid = libc::gettid() as libc::id_t;
            let own = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, (own + nice).min(19)) != 0
        };
        if failed {
            tracing::warn!(nice, "cannot lower the priority of a background render worker");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests;

//! The pool on real threads: admission, refusal past the line, callers that leave, and the rules
//! of `queue.rs` seen from the outside (work held on a worker until the test lets it go).

use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// A closure that blocks its worker until the returned sender sends (or is dropped).
fn blocker() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    (tx, move || {
        let _ = rx.recv();
    })
}

async fn until(what: &str, pool: &CpuPool, ready: impl Fn(&CpuPool) -> bool) {
    for _ in 0..2000 {
        if ready(pool) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what}: running {}, waiting {:?}", pool.running(), pool.waiting());
}

/// Holds one worker with work of `class` and `cost` until the sender sends.
fn hold(
    pool: &CpuPool,
    class: Class,
    cost: Cost,
) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), PoolError>>) {
    let (release, f) = blocker();
    let pool = pool.clone();
    (release, tokio::spawn(async move { pool.run(class, cost, f).await }))
}

#[tokio::test]
async fn runs_work_and_refuses_clients_past_the_line() {
    let pool = CpuPool::new(1, 1, 100_000_000);
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || 6 * 7).await, Ok(42));
    let (first, running) = hold(&pool, Class::Request, Cost::LIGHT);
    until("first running", &pool, |p| p.running() == 1).await;
    let (second, waiting) = hold(&pool, Class::Request, Cost::LIGHT);
    until("second waiting", &pool, |p| p.queued() == 1).await;
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || ()).await, Err(PoolError::Overloaded));
    assert_eq!(pool.run(Class::Upload, Cost::LIGHT, || ()).await, Err(PoolError::Overloaded));
    // The server's own work is not refused: it waits its turn.
    let job = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(Class::Job, Cost::LIGHT, || 7).await }
    });
    first.send(()).unwrap();
    second.send(()).unwrap();
    assert_eq!(running.await.unwrap(), Ok(()));
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(job.await.unwrap(), Ok(7));
    assert_eq!((pool.running(), pool.queued(), pool.held()), (0, 0, 0));
}

#[tokio::test]
async fn a_burst_of_background_work_never_holds_a_worker_of_requests() {
    let pool = CpuPool::new(2, 8, 100_000_000);
    let mut background = Vec::new();
    for _ in 0..6 {
        background.push(hold(&pool, Class::Background, Cost::LIGHT));
    }
    until("two background renders running", &pool, |p| p.running() == 2 && p.queued() == 4).await;
    // Two requests' misses run at once, beside the background renders, in their own lane.
    let misses = [hold(&pool, Class::Request, Cost::LIGHT), hold(&pool, Class::Request, Cost::LIGHT)];
    until("two misses running beside them", &pool, |p| p.running() == 4).await;
    assert_eq!(pool.waiting(), [0, 0, 0, 4], "the rest of the burst still waits");
    for (release, task) in misses {
        release.send(()).unwrap();
        assert_eq!(task.await.unwrap(), Ok(()));
    }
    for (release, task) in background {
        release.send(()).unwrap();
        assert_eq!(task.await.unwrap(), Ok(()));
    }
}

#[tokio::test]
async fn a_burst_of_slow_work_never_holds_every_worker() {
    let pool = CpuPool::new(2, 8, 100_000_000);
    let slow = Cost { pixels: 0, slow: true };
    let mut avif = Vec::new();
    for _ in 0..4 {
        avif.push(hold(&pool, Class::Request, slow));
    }
    until("one slow render running", &pool, |p| p.running() == 1 && p.queued() == 3).await;
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || "jpeg").await, Ok("jpeg"));
    for (release, task) in avif {
        release.send(()).unwrap();
        assert_eq!(task.await.unwrap(), Ok(()));
    }
}

#[tokio::test]
async fn decodes_wait_for_the_pixel_budget_and_callers_that_leave_give_their_place_back() {
    let pool = CpuPool::new(2, 10, 10_000_000);
    let mp = |n: u64| Cost { pixels: n * 1_000_000, slow: false };
    let (release, big) = hold(&pool, Class::Request, mp(8));
    until("big decode running", &pool, |p| p.running() == 1).await;
    // 8 of 10 megapixels are taken: a 5 MP decode waits although a worker is free.
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(Class::Request, mp(5), || 5).await }
    });
    until("5 MP decode waiting", &pool, |p| p.queued() == 1).await;
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || 0).await, Ok(0), "work that decodes nothing does not wait");
    // A caller that leaves while it waits gives its place back.
    let gave_up = tokio::time::timeout(Duration::from_millis(20), pool.run(Class::Request, mp(1), || ())).await;
    assert!(gave_up.is_err());
    assert_eq!(pool.queued(), 1);
    release.send(()).unwrap();
    assert_eq!(big.await.unwrap(), Ok(()));
    assert_eq!(waiting.await.unwrap(), Ok(5));
    assert_eq!((pool.running(), pool.queued(), pool.held()), (0, 0, 0));
}

#[tokio::test]
async fn a_slot_runs_several_closures_and_gives_its_worker_back_once() {
    let pool = CpuPool::new(1, 0, 100_000_000);
    let mut slot = pool.admit(Class::Job, Cost::LIGHT).await.unwrap();
    assert_eq!(slot.run(|| 1).await, Ok(1));
    assert_eq!(slot.run(|| 2).await, Ok(2));
    assert_eq!(pool.held(), 1);
    drop(slot);
    assert_eq!(pool.held(), 0);
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || 3).await, Ok(3));
}

#[tokio::test]
async fn a_panicking_job_is_an_error_and_the_worker_survives() {
    let pool = CpuPool::new(1, 0, 100_000_000);
    let r = pool.run(Class::Request, Cost::LIGHT, || -> u8 { panic!("boom") }).await;
    assert_eq!(r, Err(PoolError::Panicked("boom".into())));
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, || 2).await, Ok(2));
}

/// The nice value of the thread that runs this.
#[cfg(target_os = "linux")]
fn own_nice() -> i32 {
    // SAFETY: plain integers in and out.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn work_nobody_waits_for_runs_at_a_lower_priority() {
    let pool = CpuPool::new(2, 4, 100_000_000);
    let base = own_nice();
    for class in [Class::Request, Class::Upload] {
        assert_eq!(pool.run(class, Cost::LIGHT, own_nice).await, Ok(base), "{class:?}");
    }
    for class in [Class::Job, Class::Background] {
        let nice = pool.run(class, Cost::LIGHT, own_nice).await.unwrap();
        assert_eq!(nice, (base + AFTER_THE_ANSWER_NICE).min(19), "{class:?}");
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_payer_who_used_much_worker_time_lately_runs_at_a_lower_priority() {
    let pool = CpuPool::new(2, 4, 100_000_000);
    let base = own_nice();
    let (heavy, light): (std::net::IpAddr, std::net::IpAddr) =
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let request = |payer| Whose { class: Class::Request, payer: Some(payer) };
    // Its worker time is measured on the worker: a render longer than the bound makes it heavy.
    let busy = Duration::from_secs_f64(HEAVY_SECONDS + 0.2);
    assert_eq!(pool.run(request(heavy), Cost::LIGHT, move || std::thread::sleep(busy)).await, Ok(()));
    let nice = pool.run(request(heavy), Cost::LIGHT, own_nice).await.unwrap();
    assert_eq!(nice, (base + AFTER_THE_ANSWER_NICE).min(19));
    assert_eq!(pool.run(request(light), Cost::LIGHT, own_nice).await, Ok(base), "another payer is not");
    assert_eq!(pool.run(Class::Request, Cost::LIGHT, own_nice).await, Ok(base), "nor work of no payer");
}

//! The threads the main port's connections live on: one single-threaded runtime per core, each
//! connection on one of them from accept to close, as nginx keeps a connection in one worker.
//!
//! A multi-threaded runtime hands a woken connection to whichever worker is free and wakes a
//! parked worker to share the queue: on every hit, a few context switches and futex calls that
//! cost more than the hit's own work (measured: 0.12 context switches and 0.07 futex calls a
//! request at 16 connections on 2 cores). Here a connection's wake-ups stay on its thread. CPU
//! work still goes to the render pool, and whatever a request spawns runs on its connection's
//! thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How long a reactor's blocking calls (file storage) get to finish once the server stops.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Connection threads; stopped when dropped (what still runs on them is cancelled).
#[derive(Debug)]
pub(crate) struct Reactors {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Reactors {
    /// Starts `threads` reactors (at least one).
    pub(crate) fn start(threads: usize) -> std::io::Result<Reactors> {
        let mut reactors = Reactors { handles: Vec::new(), stops: Vec::new(), next: AtomicUsize::new(0) };
        for n in 0..threads.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            reactors.handles.push(runtime.handle().clone());
            reactors.stops.push(stop);
            std::thread::Builder::new().name(format!("reactor-{n}")).spawn(move || {
                // Until the sender is dropped: the reactors are.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(STOP_GRACE);
            })?;
        }
        Ok(reactors)
    }

    /// The reactor the next connection goes to, in turn.
    pub(crate) fn next(&self) -> &Handle {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.handles[n % self.handles.len()]
    }
}

impl Drop for Reactors {
    fn drop(&mut self) {
        // Each thread leaves block_on when its sender is gone; nothing here waits for it.
        self.stops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_handed_to_each_reactor_in_turn_and_run_on_its_thread() {
        let reactors = Reactors::start(2).unwrap();
        let threads: Vec<String> = (0..4)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                reactors.next().spawn(async move {
                    tx.send(std::thread::current().name().unwrap_or_default().to_owned()).unwrap();
                });
                rx.recv_timeout(Duration::from_secs(10)).unwrap()
            })
            .collect();
        assert_eq!(threads, ["reactor-0", "reactor-1", "reactor-0", "reactor-1"]);
    }

    #[test]
    fn dropped_reactors_stop_what_runs_on_them() {
        let reactors = Reactors::start(1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        reactors.next().spawn(async move {
            let _held = tx;
            std::future::pending::<()>().await;
        });
        drop(reactors);
        // The task, and the sender it holds, are dropped with the reactor's runtime.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(std::sync::mpsc::RecvTimeoutError::Disconnected));
    }
}

//! The admission rules of the CPU pool as plain state: which waiting piece of work may start
//! next. No threads, locks or clocks here (the pool passes the time); the pool asks it under its
//! lock, and the tests in `queue/tests.rs` drive it step by step.
//!
//! Work runs in one of two lanes of `workers` threads each. The client lane (requests and uploads
//! of payers who used little worker time lately, `usage.rs`) runs at the process's priority. The
//! lower lane (jobs, background renders, and the work of a heavy payer) runs beside it, at the
//! lower priority of work nobody waits for: it never takes a worker from a light client's
//! request, and the kernel gives it about a tenth of a core it shares with the client lane, and
//! all of a core the client lane leaves idle (so a lone heavy client, or a job on an idle server,
//! still has every core).
//!
//! The rules, in the order they are asked:
//! - its lane must have room; in the client lane uploads leave one worker for requests whenever
//!   there is more than one;
//! - classes are served by priority (a request's render, an upload's, a job's, a background
//!   render); within a class, light payers' work before a heavy payer's, first come first
//!   served within each;
//! - slow work (a codec several times slower than JPEG, see [`Cost::slow`]) holds at most half
//!   the workers (at least one), so a burst of it never holds every worker;
//! - work that decodes draws megapixels from the decode budget; work bigger than the whole
//!   budget runs alone. Once a waiter is held back by the budget, no later waiter takes budget
//!   before it, so a large decode is not starved by a stream of small ones.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::usage::{MeterIndex, Usage};

/// Whose CPU work it is, in the order the pool serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A request's miss, answered while its client waits.
    Request,
    /// An upload being answered: its validation, working copies, moderation picture, outputs.
    Upload,
    /// An upload's job (outputs of `?wait=false`, resumed jobs) after the answer.
    Job,
    /// A popular size rendered ahead of its requests.
    Background,
}

impl Class {
    /// Every class, in the order they are served.
    pub const ALL: [Class; 4] = [Class::Request, Class::Upload, Class::Job, Class::Background];

    /// The class's name in `/status`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Request => "request",
            Class::Upload => "upload",
            Class::Job => "job",
            Class::Background => "background",
        }
    }

    /// Whether a client waits for this work's answer: such work is refused (503) once
    /// `queue_size` of it waits, the rest waits as long as it must.
    pub fn answers_a_client(self) -> bool {
        matches!(self, Class::Request | Class::Upload)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whose a piece of work is: its class, and the client it is charged to (none for the server's
/// own work and for work a client paid for up front).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whose {
    /// Its class.
    pub class: Class,
    /// The client (its address, or IPv6 /64) it is charged to.
    pub payer: Option<IpAddr>,
}

impl From<Class> for Whose {
    fn from(class: Class) -> Whose {
        Whose { class, payer: None }
    }
}

/// What a piece of work costs while it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Source pixels it decodes (0 for work that decodes nothing): drawn from the decode budget.
    pub pixels: u64,
    /// Whether it runs a slow codec (several times the time of a JPEG render of the same size).
    pub slow: bool,
}

impl Cost {
    /// Work that decodes nothing and is quick.
    pub const LIGHT: Cost = Cost { pixels: 0, slow: false };

    /// The larger of two costs, side by side: what work that may do either holds.
    pub fn max(self, other: Cost) -> Cost {
        Cost { pixels: self.pixels.max(other.pixels), slow: self.slow || other.slow }
    }
}

/// What a piece of work holds while it runs, given back by [`Queue::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grant {
    class: Class,
    megapixels: u32,
    slow: bool,
    meter: Option<MeterIndex>,
    /// Runs at the lower priority of work nobody waits for (set when admitted).
    lower: bool,
}

impl Grant {
    /// Whether the work runs in the lower lane: work nobody waits for, or a heavy payer's.
    pub(super) fn lower_priority(&self) -> bool {
        self.lower
    }
}

/// The pool's size, as configured.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    /// Worker threads.
    pub(super) workers: usize,
    /// Work answering a client that may wait for a worker before it is refused.
    pub(super) queue_size: usize,
    /// Megapixels of sources that may be decoding at once.
    pub(super) budget_megapixels: u32,
}

/// Work running and waiting, and the rules between them.
#[derive(Debug)]
pub(super) struct Queue<T> {
    sizes: Sizes,
    /// Running in the client lane, and of those, uploads.
    running_clients: usize,
    running_uploads: usize,
    /// Running in the lower lane.
    running_lower: usize,
    running_slow: usize,
    budget_used: u32,
    waiting: [VecDeque<(Grant, T)>; 4],
    usage: Usage,
}

impl<T> Queue<T> {
    pub(super) fn new(sizes: Sizes) -> Queue<T> {
        Queue {
            sizes,
            running_clients: 0,
            running_uploads: 0,
            running_lower: 0,
            running_slow: 0,
            budget_used: 0,
            waiting: Default::default(),
            usage: Usage::new(),
        }
    }

    /// Puts `item` in line for a worker.
    pub(super) fn push(&mut self, whose: impl Into<Whose>, cost: Cost, item: T) {
        let Whose { class, payer } = whose.into();
        let megapixels = megapixels(cost.pixels).min(self.sizes.budget_megapixels);
        let meter = payer.map(|p| self.usage.meter_of(p));
        let lower = !class.answers_a_client();
        self.waiting[class.index()].push_back((Grant { class, megapixels, slow: cost.slow, meter, lower }, item));
    }

    /// Whether more work answering clients waits than `queue_size` allows: the last of it in
    /// line is to be refused.
    pub(super) fn overflows(&self) -> bool {
        self.waiting_for_clients() > self.sizes.queue_size
    }

    /// Takes out the waiting item `matches` names, if it still waits (its caller left).
    pub(super) fn withdraw(&mut self, class: Class, matches: impl Fn(&T) -> bool) -> Option<T> {
        let line = &mut self.waiting[class.index()];
        let at = line.iter().position(|(_, item)| matches(item))?;
        line.remove(at).map(|(_, item)| item)
    }

    /// The next waiting item that may start now, with what it holds from now on.
    pub(super) fn next(&mut self, now: Instant) -> Option<(Grant, T)> {
        let workers = self.sizes.workers;
        let kept_for_requests = usize::from(workers > 1);
        let lower_full = self.running_lower >= workers;
        let requests_full = self.running_clients >= workers;
        let uploads_full = requests_full || self.running_uploads >= workers - kept_for_requests;
        let slow_full = self.running_slow >= (workers / 2).max(1);
        let mut budget_held_back = false;
        for class in Class::ALL {
            // Light payers' work first, then heavy payers'.
            for heavy in [false, true] {
                let full = match class {
                    _ if heavy || !class.answers_a_client() => lower_full,
                    Class::Request => requests_full,
                    _ => uploads_full,
                };
                if full {
                    continue;
                }
                let line = &self.waiting[class.index()];
                let mut found = None;
                for (at, (grant, _)) in line.iter().enumerate() {
                    if self.usage.heavy(grant.meter, now) != heavy || (grant.slow && slow_full) {
                        continue;
                    }
                    if grant.megapixels > 0
                        && (budget_held_back || self.budget_used + grant.megapixels > self.sizes.budget_megapixels)
                    {
                        budget_held_back = true;
                        continue;
                    }
                    found = Some(at);
                    break;
                }
                if let Some(at) = found {
                    let (mut grant, item) = self.waiting[class.index()].remove(at).expect("found above");
                    grant.lower |= heavy;
                    self.take(grant);
                    return Some((grant, item));
                }
            }
        }
        None
    }

    /// The running count of `grant`'s lane (and, for an upload in the client lane, of uploads).
    fn counts(&mut self, grant: Grant) -> (&mut usize, Option<&mut usize>) {
        match grant.class {
            _ if grant.lower => (&mut self.running_lower, None),
            Class::Upload => (&mut self.running_clients, Some(&mut self.running_uploads)),
            _ => (&mut self.running_clients, None),
        }
    }

    fn take(&mut self, grant: Grant) {
        let (lane, uploads) = self.counts(grant);
        *lane += 1;
        if let Some(uploads) = uploads {
            *uploads += 1;
        }
        if grant.slow {
            self.running_slow += 1;
        }
        self.budget_used += grant.megapixels;
    }

    /// Gives back what a finished (or abandoned) piece of work held, charging the worker time it
    /// `used` to its payer.
    pub(super) fn release(&mut self, grant: Grant, used: Duration, now: Instant) {
        let (lane, uploads) = self.counts(grant);
        *lane -= 1;
        if let Some(uploads) = uploads {
            *uploads -= 1;
        }
        if grant.slow {
            self.running_slow -= 1;
        }
        self.budget_used -= grant.megapixels;
        self.usage.charge(grant.meter, used, now);
    }

    /// Work waiting whose client waits for it.
    fn waiting_for_clients(&self) -> usize {
        Class::ALL.iter().filter(|c| c.answers_a_client()).map(|c| self.waiting[c.index()].len()).sum()
    }

    /// Work waiting, by class.
    pub(super) fn waiting(&self) -> [usize; 4] {
        Class::ALL.map(|c| self.waiting[c.index()].len())
    }

    /// Work holding a worker, in both lanes.
    pub(super) fn running(&self) -> usize {
        self.running_clients + self.running_lower
    }
}

/// Whole megapixels, rounded up: the unit of the decode budget.
pub(super) fn megapixels(pixels: u64) -> u32 {
    u32::try_from(pixels.div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;

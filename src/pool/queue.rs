//! The admission rules of the CPU pool as plain state: which waiting piece of work may start
//! next. No threads, locks or clocks here; the pool asks it under its lock, and the tests below
//! drive it step by step.
//!
//! The rules, in the order they are asked:
//! - a worker must be free;
//! - classes are served by priority (a request's render, an upload's, a job's, a background
//!   render), first come first served within a class;
//! - whenever there is more than one worker, work other than requests leaves one free;
//! - slow work (a codec several times slower than JPEG, see [`Cost::slow`]) holds at most half
//!   the workers (at least one), so a burst of it never holds every worker;
//! - work that decodes draws megapixels from the decode budget; work bigger than the whole
//!   budget runs alone. Once a waiter is held back by the budget, no later waiter takes budget
//!   before it, so a large decode is not starved by a stream of small ones.

use std::collections::VecDeque;

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
}

impl Grant {
    /// The class the work was admitted as.
    pub(super) fn class(&self) -> Class {
        self.class
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
    running: usize,
    /// Running work other than requests.
    running_shared: usize,
    running_slow: usize,
    budget_used: u32,
    waiting: [VecDeque<(Grant, T)>; 4],
}

impl<T> Queue<T> {
    pub(super) fn new(sizes: Sizes) -> Queue<T> {
        Queue { sizes, running: 0, running_shared: 0, running_slow: 0, budget_used: 0, waiting: Default::default() }
    }

    /// Puts `item` in line for a worker.
    pub(super) fn push(&mut self, class: Class, cost: Cost, item: T) {
        let megapixels = megapixels(cost.pixels).min(self.sizes.budget_megapixels);
        self.waiting[class.index()].push_back((Grant { class, megapixels, slow: cost.slow }, item));
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
    pub(super) fn next(&mut self) -> Option<(Grant, T)> {
        let workers = self.sizes.workers;
        if self.running >= workers {
            return None;
        }
        let shared_full = workers > 1 && self.running_shared >= workers - 1;
        let slow_full = self.running_slow >= (workers / 2).max(1);
        let mut budget_held_back = false;
        for class in Class::ALL {
            if class != Class::Request && shared_full {
                break;
            }
            let line = &self.waiting[class.index()];
            let mut found = None;
            for (at, (grant, _)) in line.iter().enumerate() {
                if grant.slow && slow_full {
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
                let (grant, item) = self.waiting[class.index()].remove(at).expect("found above");
                self.take(grant);
                return Some((grant, item));
            }
        }
        None
    }

    fn take(&mut self, grant: Grant) {
        self.running += 1;
        if grant.class != Class::Request {
            self.running_shared += 1;
        }
        if grant.slow {
            self.running_slow += 1;
        }
        self.budget_used += grant.megapixels;
    }

    /// Gives back what a finished (or abandoned) piece of work held.
    pub(super) fn release(&mut self, grant: Grant) {
        self.running -= 1;
        if grant.class != Class::Request {
            self.running_shared -= 1;
        }
        if grant.slow {
            self.running_slow -= 1;
        }
        self.budget_used -= grant.megapixels;
    }

    /// Work waiting whose client waits for it.
    fn waiting_for_clients(&self) -> usize {
        Class::ALL.iter().filter(|c| c.answers_a_client()).map(|c| self.waiting[c.index()].len()).sum()
    }

    /// Work waiting, by class.
    pub(super) fn waiting(&self) -> [usize; 4] {
        Class::ALL.map(|c| self.waiting[c.index()].len())
    }

    /// Work holding a worker.
    pub(super) fn running(&self) -> usize {
        self.running
    }
}

/// Whole megapixels, rounded up: the unit of the decode budget.
pub(super) fn megapixels(pixels: u64) -> u32 {
    u32::try_from(pixels.div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(workers: usize) -> Queue<&'static str> {
        Queue::new(Sizes { workers, queue_size: 8, budget_megapixels: 100 })
    }

    const SLOW: Cost = Cost { pixels: 0, slow: true };

    /// Starts everything that may start now; answers their names in order.
    fn start(q: &mut Queue<&'static str>) -> Vec<(Grant, &'static str)> {
        std::iter::from_fn(|| q.next()).collect()
    }

    fn names(started: &[(Grant, &'static str)]) -> Vec<&'static str> {
        started.iter().map(|(_, n)| *n).collect()
    }

    #[test]
    fn background_work_leaves_a_worker_for_requests() {
        let mut q = queue(2);
        for name in ["bg1", "bg2", "bg3"] {
            q.push(Class::Background, Cost::LIGHT, name);
        }
        let started = start(&mut q);
        assert_eq!(names(&started), ["bg1"], "one worker stays free");
        q.push(Class::Request, Cost::LIGHT, "miss");
        assert_eq!(names(&start(&mut q)), ["miss"], "a request's miss starts at once");
        // Both workers are busy; when the background render ends, a waiting request goes first.
        q.push(Class::Request, Cost::LIGHT, "miss2");
        assert!(q.next().is_none());
        q.release(started[0].0);
        assert_eq!(names(&start(&mut q)), ["miss2"]);
    }

    #[test]
    fn classes_are_served_by_priority_and_in_order_within_one() {
        let mut q = queue(1);
        q.push(Class::Request, Cost::LIGHT, "first");
        let first = q.next().expect("a free worker");
        for (class, name) in [
            (Class::Background, "bg"),
            (Class::Job, "job"),
            (Class::Upload, "upload"),
            (Class::Request, "r1"),
            (Class::Request, "r2"),
        ] {
            q.push(class, Cost::LIGHT, name);
        }
        let mut order = Vec::new();
        let mut held = first.0;
        while let Some((grant, name)) = {
            q.release(held);
            q.next()
        } {
            order.push(name);
            held = grant;
        }
        assert_eq!(order, ["r1", "r2", "upload", "job", "bg"]);
    }

    #[test]
    fn slow_work_holds_at_most_half_the_workers() {
        let mut q = queue(4);
        for name in ["avif1", "avif2", "avif3", "avif4"] {
            q.push(Class::Request, SLOW, name);
        }
        q.push(Class::Request, Cost::LIGHT, "jpg");
        assert_eq!(names(&start(&mut q)), ["avif1", "avif2", "jpg"]);
        let mut q = queue(2);
        for name in ["avif1", "avif2"] {
            q.push(Class::Request, SLOW, name);
        }
        assert_eq!(names(&start(&mut q)), ["avif1"], "of two workers, one stays for the rest");
        let mut q = queue(1);
        q.push(Class::Request, SLOW, "avif");
        assert_eq!(names(&start(&mut q)), ["avif"], "one worker runs slow work too");
    }

    #[test]
    fn decodes_share_the_budget_and_a_large_one_is_not_starved() {
        let mut q = queue(4);
        let mp = |n: u64| Cost { pixels: n * 1_000_000, slow: false };
        q.push(Class::Request, mp(80), "big");
        q.push(Class::Request, mp(30), "medium");
        q.push(Class::Request, mp(1), "small");
        q.push(Class::Request, Cost::LIGHT, "light");
        let started = start(&mut q);
        assert_eq!(names(&started), ["big", "light"], "the budget holds back later decodes, not light work");
        assert_eq!(started[0].1, "big");
        q.release(started[0].0);
        assert_eq!(names(&start(&mut q)), ["medium", "small"]);
        let mut q = queue(4);
        q.push(Class::Request, mp(500), "huge");
        assert_eq!(names(&start(&mut q)), ["huge"], "larger than the whole budget: runs alone");
    }

    #[test]
    fn clients_wait_in_a_bounded_line_and_server_work_waits_as_long_as_it_must() {
        let mut q: Queue<usize> = Queue::new(Sizes { workers: 1, queue_size: 2, budget_megapixels: 100 });
        q.push(Class::Request, Cost::LIGHT, 0);
        q.push(Class::Upload, Cost::LIGHT, 1);
        assert!(!q.overflows());
        q.push(Class::Request, Cost::LIGHT, 2);
        assert!(q.overflows(), "the line is full");
        assert_eq!(q.withdraw(Class::Request, |&n| n == 2), Some(2));
        for n in 3..100 {
            q.push(Class::Job, Cost::LIGHT, n);
        }
        assert!(!q.overflows(), "the server's own work waits as long as it must");
        assert_eq!(q.withdraw(Class::Request, |&n| n == 0), Some(0), "a caller that left gives its place back");
        assert_eq!(q.waiting(), [0, 1, 97, 0]);
    }
}

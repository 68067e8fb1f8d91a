//! The queue's rules, step by step: what starts, in which lane, in which order.

use super::*;

fn queue(workers: usize) -> Queue<&'static str> {
    Queue::new(Sizes { workers, queue_size: 8, budget_megapixels: 100 })
}

const SLOW: Cost = Cost { pixels: 0, slow: true };

/// Starts everything that may start now; answers their names in order.
fn start(q: &mut Queue<&'static str>) -> Vec<(Grant, &'static str)> {
    std::iter::from_fn(|| q.next(Instant::now())).collect()
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
    assert_eq!(names(&started), ["bg1", "bg2"], "the lower lane's two workers");
    assert!(started.iter().all(|(grant, _)| grant.lower_priority()));
    // Requests have both workers of their own lane beside the background renders.
    q.push(Class::Request, Cost::LIGHT, "miss1");
    q.push(Class::Request, Cost::LIGHT, "miss2");
    q.push(Class::Request, Cost::LIGHT, "miss3");
    assert_eq!(names(&start(&mut q)), ["miss1", "miss2"], "requests start at once");
    q.release(started[0].0, Duration::ZERO, Instant::now());
    assert_eq!(names(&start(&mut q)), ["bg3"]);
}

#[test]
fn uploads_leave_a_worker_for_requests() {
    let mut q = queue(2);
    for name in ["up1", "up2"] {
        q.push(Class::Upload, Cost::LIGHT, name);
    }
    assert_eq!(names(&start(&mut q)), ["up1"]);
    q.push(Class::Request, Cost::LIGHT, "miss");
    assert_eq!(names(&start(&mut q)), ["miss"]);
}

#[test]
fn classes_are_served_by_priority_and_in_order_within_one() {
    let mut q = queue(1);
    q.push(Class::Request, Cost::LIGHT, "first");
    let first = q.next(Instant::now()).expect("a free worker");
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
        q.release(held, Duration::ZERO, Instant::now());
        q.next(Instant::now())
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
    q.release(started[0].0, Duration::ZERO, Instant::now());
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

#[test]
fn a_heavy_payer_s_work_runs_in_the_lower_lane_and_light_payers_come_first() {
    let mut q = queue(2);
    let now = Instant::now();
    let (heavy, light): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let request = |payer| Whose { class: Class::Request, payer: Some(payer) };
    // The heavy payer's first render is a request like any other, and its worker time counts.
    q.push(request(heavy), Cost::LIGHT, "heavy1");
    let (first, _) = q.next(now).expect("a free worker");
    assert!(!first.lower_priority());
    q.release(first, Duration::from_secs(3), now);
    // Now its work runs in the lower lane ...
    for name in ["heavy2", "heavy3", "heavy4"] {
        q.push(request(heavy), Cost::LIGHT, name);
    }
    let started = start(&mut q);
    assert_eq!(names(&started), ["heavy2", "heavy3"]);
    assert!(started.iter().all(|(grant, _)| grant.lower_priority()));
    let heavy2 = started[0].0;
    // ... and light payers' requests have both workers of the client lane beside it.
    for name in ["light1", "light2", "light3"] {
        q.push(request(light), Cost::LIGHT, name);
    }
    let started = start(&mut q);
    assert_eq!(names(&started), ["light1", "light2"]);
    assert!(started.iter().all(|(grant, _)| !grant.lower_priority()));
    // Twenty seconds later its meter is down to a quarter: it is light again, and its
    // request, first in line, goes first, in the client lane.
    let later = now + Duration::from_secs(20);
    q.release(heavy2, Duration::ZERO, later);
    q.release(started[0].0, Duration::ZERO, later);
    assert_eq!(q.next(later).map(|(g, n)| (n, g.lower_priority())), Some(("heavy4", false)));
    // Where both wait for the decode budget, a light payer's decode takes it first.
    let mut q = queue(4);
    let mp = |n: u64| Cost { pixels: n * 1_000_000, slow: false };
    q.push(request(heavy), Cost::LIGHT, "heavy1");
    let (first, _) = q.next(now).expect("a free worker");
    q.release(first, Duration::from_secs(3), now);
    q.push(request(heavy), mp(60), "heavy");
    q.push(request(light), mp(60), "light");
    assert_eq!(names(&start(&mut q)), ["light"]);
}

//! Popular sizes (DESIGN.md §12, §15): in each namespace with `prerender_popular` K, bounded
//! counts of the variant names whose requests were rendered (so charged to their client: a hit
//! costs nothing and counts nothing), each name at most once per client, and none with a side
//! over the namespace's `prerender_max_side` (nor `full`); after a request's miss of an image is rendered, that
//! namespace's K most asked names are rendered for the same image in the background, one at a
//! time, each waiting in the CPU pool's background class, which runs only when no other work
//! waits and never on the last free worker. Background renders do not count in `image_request`
//! (nor as requests here).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::rendering::Purpose;
use super::renders::{Lookup, Renders};
use crate::access::Payer;
use crate::config::Settings;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};

/// Names counted per namespace: K's worth several times over, so that the top K are right even
/// while the mix of sizes shifts (Space-Saving: a new name takes the place of the least counted).
fn capacity(k: usize) -> usize {
    (8 * k).max(64)
}

/// Images waiting for their popular sizes; past it, a miss's prerender is dropped.
const QUEUE: usize = 256;

/// (name, client) pairs remembered per counted name, so that a client counts once for a name;
/// past it they are forgotten and start again.
const SEEN_PER_NAME: usize = 64;

/// The counts of one namespace, and which clients counted for which name.
#[derive(Debug, Default)]
struct Counts(HashMap<Variant, u64>, HashSet<(Variant, IpAddr)>);

impl Counts {
    /// Counts `variant` for `client` (the server's own work counts each time), unless that
    /// client counted for it already.
    fn count_once(&mut self, variant: &Variant, client: Option<IpAddr>, capacity: usize) {
        if let Some(client) = client {
            if self.1.len() >= capacity * SEEN_PER_NAME {
                self.1.clear();
            }
            if !self.1.insert((*variant, client)) {
                return;
            }
        }
        self.count(variant, capacity);
    }

    fn count(&mut self, variant: &Variant, capacity: usize) {
        if let Some(n) = self.0.get_mut(variant) {
            *n += 1;
        } else if self.0.len() < capacity {
            self.0.insert(*variant, 1);
        } else if let Some((&least, &n)) = self.0.iter().min_by_key(|(v, n)| (**n, v.to_string())) {
            self.0.remove(&least);
            self.0.insert(*variant, n + 1);
        }
    }

    /// The `k` most counted, most first (ties by name).
    fn top(&self, k: usize) -> Vec<(Variant, u64)> {
        let mut all: Vec<(Variant, u64)> = self.0.iter().map(|(v, n)| (*v, *n)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.to_string().cmp(&b.0.to_string())));
        all.truncate(k);
        all
    }
}

/// The counts and the queue of background renders, shared by the service and the status port.
#[derive(Debug)]
pub struct Popular {
    /// K and the longest side counted, per namespace that has a K.
    top: HashMap<Namespace, (usize, u32)>,
    counts: Mutex<HashMap<Namespace, Counts>>,
    queue: mpsc::Sender<ImageKey>,
    queued: Mutex<Option<mpsc::Receiver<ImageKey>>>,
}

type ImageKey = (Namespace, ImageId);

impl Popular {
    /// The namespaces of `settings` that prerender popular sizes.
    pub fn new(settings: &Settings) -> Popular {
        let top = settings
            .configured()
            .filter(|(_, s)| s.prerender_popular > 0)
            .map(|(ns, s)| (ns.clone(), (s.prerender_popular, s.prerender_max_side)))
            .collect();
        let (queue, queued) = mpsc::channel(QUEUE);
        Popular { top, counts: Mutex::default(), queue, queued: Mutex::new(Some(queued)) }
    }

    /// A request of `client` in `ns` had `variant` rendered (counted where the namespace
    /// prerenders, once per client, within its longest side).
    pub(super) fn count(&self, ns: &Namespace, variant: &Variant, client: Option<IpAddr>) {
        let Some(&(k, max_side)) = self.top.get(ns) else { return };
        if !within(variant, max_side) {
            return;
        }
        let mut counts = self.counts.lock().expect("not poisoned");
        counts.entry(ns.clone()).or_default().count_once(variant, client, capacity(k));
    }

    /// A request's miss of an image in `ns` was rendered: its popular sizes are due.
    pub(super) fn rendered(&self, ns: &Namespace, id: &ImageId) {
        if self.top.contains_key(ns) && self.queue.try_send((ns.clone(), id.clone())).is_err() {
            tracing::debug!(namespace = %ns, "popular sizes skipped: their queue is full");
        }
    }

    fn top_of(&self, ns: &Namespace) -> Vec<(Variant, u64)> {
        let k = self.top.get(ns).map_or(0, |&(k, _)| k);
        self.counts.lock().expect("not poisoned").get(ns).map(|c| c.top(k)).unwrap_or_default()
    }

    /// `/status`'s `popular`: each counting namespace's top names with their counts.
    pub fn status(&self) -> Value {
        let by_ns: serde_json::Map<String, Value> = self
            .top
            .keys()
            .map(|ns| {
                let top: Vec<Value> =
                    self.top_of(ns).iter().map(|(v, n)| json!({ "variant": v.to_string(), "count": n })).collect();
                (ns.to_string(), Value::Array(top))
            })
            .collect();
        Value::Object(by_ns)
    }
}

/// Whether `variant` asks for no side longer than `max_side` (`full` asks for the original's).
fn within(variant: &Variant, max_side: u32) -> bool {
    match variant.geometry.requested_size() {
        (None, None) => false,
        (w, h) => w.unwrap_or(0).max(h.unwrap_or(0)) <= max_side,
    }
}

impl Popular {
    /// Renders the popular sizes of images whose misses were rendered, until the process ends.
    pub(super) async fn run(self: Arc<Self>, renders: Arc<Renders>, settings: Arc<Settings>) {
        let Some(mut queued) = self.queued.lock().expect("not poisoned").take() else { return };
        while let Some((ns, id)) = queued.recv().await {
            for (variant, _) in self.top_of(&ns) {
                if settings.of(&ns).check(&variant).is_err()
                    || renders.stores.variants.exists(&ObjectKey::variant(&ns, &id, &variant)).await.unwrap_or(true)
                {
                    continue;
                }
                let lookup = Lookup {
                    ns: &ns,
                    id: &id,
                    variant,
                    source_override: None,
                    info: None,
                    purpose: Purpose::Background,
                    payer: &Payer::Server,
                    slot: None,
                };
                if let Err(e) = renders.answer(lookup).await {
                    tracing::info!(namespace = %ns, image = %id, %variant, error = %e, "popular size not rendered");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_bounded_and_keep_the_most_asked() {
        let mut counts = Counts::default();
        let v = |s: &str| s.parse::<Variant>().unwrap();
        let capacity = capacity(2);
        for _ in 0..50 {
            counts.count(&v("w200.jpg"), capacity);
        }
        for _ in 0..20 {
            counts.count(&v("x100.webp"), capacity);
        }
        // A stream of one-off names churns the rest of the table but not the names asked more
        // than (all requests / capacity) times.
        for i in 1..=500 {
            counts.count(&v(&format!("w{i}.png")), capacity);
        }
        assert_eq!(counts.0.len(), capacity);
        let top: Vec<String> = counts.top(2).iter().map(|(v, _)| v.to_string()).collect();
        assert_eq!(top, ["w200.jpg", "x100.webp"]);
    }

    #[test]
    fn a_client_counts_once_for_a_name() {
        let mut counts = Counts::default();
        let v = |s: &str| s.parse::<Variant>().unwrap();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..50 {
            counts.count_once(&v("w4000.png"), Some(a), 64);
        }
        counts.count_once(&v("w200.jpg"), Some(a), 64);
        counts.count_once(&v("w200.jpg"), Some(b), 64);
        let top: Vec<(String, u64)> = counts.top(2).iter().map(|(v, n)| (v.to_string(), *n)).collect();
        assert_eq!(top, [("w200.jpg".to_owned(), 2), ("w4000.png".to_owned(), 1)]);
        assert!(within(&v("w1024.jpg"), 1024) && !within(&v("300x1025.jpg"), 1024) && !within(&v("full.jpg"), 4096));
    }
}

//! Popular sizes (DESIGN.md §12): in each namespace with `prerender_popular` K, bounded counts of
//! the variant names requests ask for; after a request's miss of an image is rendered, that
//! namespace's K most asked names are rendered for the same image in the background, one at a
//! time, each waiting in the CPU pool's background class, which runs only when no other work
//! waits and never on the last free worker. Background renders do not count in `image_request`
//! (nor as requests here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::renders::{Lookup, Purpose, Renders};
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

/// The counts of one namespace.
#[derive(Debug, Default)]
struct Counts(HashMap<Variant, u64>);

impl Counts {
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
    /// K per namespace that has one.
    top: HashMap<Namespace, usize>,
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
            .map(|(ns, s)| (ns.clone(), s.prerender_popular))
            .collect();
        let (queue, queued) = mpsc::channel(QUEUE);
        Popular { top, counts: Mutex::default(), queue, queued: Mutex::new(Some(queued)) }
    }

    /// A request in `ns` asked for `variant` (counted where the namespace prerenders).
    pub(super) fn count(&self, ns: &Namespace, variant: &Variant) {
        let Some(&k) = self.top.get(ns) else { return };
        let mut counts = self.counts.lock().expect("not poisoned");
        counts.entry(ns.clone()).or_default().count(variant, capacity(k));
    }

    /// A request's miss of an image in `ns` was rendered: its popular sizes are due.
    pub(super) fn rendered(&self, ns: &Namespace, id: &ImageId) {
        if self.top.contains_key(ns) && self.queue.try_send((ns.clone(), id.clone())).is_err() {
            tracing::debug!(namespace = %ns, "popular sizes skipped: their queue is full");
        }
    }

    fn top_of(&self, ns: &Namespace) -> Vec<(Variant, u64)> {
        let k = self.top.get(ns).copied().unwrap_or(0);
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
}

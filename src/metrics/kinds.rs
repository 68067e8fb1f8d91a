//! The kinds of metric the table declares: counters (plain or by a label), gauges and duration
//! histograms. Each is registered with Prometheus at creation, sends its statsd name when it
//! moves, and writes itself into the `/status` JSON at its path.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use serde_json::{Map, Value};

use super::statsd::Statsd;

/// What every reader of a metric sees of it: its Prometheus name (after `image_server_`) and
/// help, its statsd name (DESIGN.md §6), and where `/status` shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Desc {
    /// Prometheus name, after the prefix.
    pub(crate) prom: &'static str,
    /// Prometheus help line.
    pub(crate) help: &'static str,
    /// statsd name sent on every change, if any.
    pub(crate) statsd: Option<&'static str>,
    /// Dotted path in the `/status` JSON.
    pub(crate) status: &'static str,
    /// Dotted path of the sum over labels, for labelled counters that show one.
    pub(crate) status_total: Option<&'static str>,
}

/// A label whose values are the cases of an enum: Prometheus label value, `/status` key, statsd
/// name.
pub(crate) trait Label: Copy + 'static {
    /// The Prometheus label name (`format`).
    const KEY: &'static str;
    /// Every value, so that each series exists from the start.
    const ALL: &'static [Self];
    /// The Prometheus label value (`jpg`).
    fn value(self) -> &'static str;
    /// The key under the metric's `/status` path.
    fn status_key(self) -> &'static str;
    /// The statsd name of this value, given the metric's own statsd name.
    fn statsd(self, base: Option<&'static str>) -> Option<String>;
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry.register(Box::new(collector.clone())).expect("metric names are unique");
    collector
}

fn opts(desc: &Desc) -> Opts {
    Opts::new(desc.prom, desc.help)
}

/// Inserts `value` at a dotted path, making (or merging into) objects on the way.
pub(crate) fn insert_at(root: &mut Map<String, Value>, path: &str, value: Value) {
    let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
    match rest {
        None => match (root.get_mut(head), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, value) => {
                root.insert(head.to_owned(), value);
            }
        },
        Some(rest) => {
            let child = root.entry(head.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(child) = child {
                insert_at(child, rest, value);
            }
        }
    }
}

/// A counter.
pub(crate) struct Counter {
    desc: Desc,
    prom: IntCounter,
}

impl Counter {
    pub(crate) fn new(registry: &Registry, desc: Desc) -> Self {
        let prom = register(registry, IntCounter::with_opts(opts(&desc)).expect("valid metric"));
        Counter { desc, prom }
    }

    pub(crate) fn inc(&self, statsd: &Statsd) {
        self.prom.inc();
        if let Some(name) = self.desc.statsd {
            statsd.count(name);
        }
    }

    /// Adds `n` at once (faces found by one detection).
    pub(crate) fn add(&self, n: u64, statsd: &Statsd) {
        self.prom.inc_by(n);
        if let Some(name) = self.desc.statsd {
            statsd.count_by(name, n);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.prom.get()
    }

    pub(crate) fn write_status(&self, out: &mut Map<String, Value>) {
        insert_at(out, self.desc.status, self.get().into());
    }
}

/// A counter with one series per value of a label, each series (and its statsd name) looked up
/// once, at start-up, so that counting is an atomic add.
pub(crate) struct CounterBy<L: Label> {
    desc: Desc,
    /// Per value of `L::ALL`, in its order: the series and its statsd name.
    series: Vec<(L, IntCounter, Option<String>)>,
}

impl<L: Label + PartialEq> CounterBy<L> {
    pub(crate) fn new(registry: &Registry, desc: Desc) -> Self {
        let prom = register(registry, IntCounterVec::new(opts(&desc), &[L::KEY]).expect("valid metric"));
        let series = L::ALL
            .iter()
            .map(|label| (*label, prom.with_label_values(&[label.value()]), label.statsd(desc.statsd)))
            .collect();
        CounterBy { desc, series }
    }

    fn series(&self, label: L) -> &(L, IntCounter, Option<String>) {
        self.series.iter().find(|(l, ..)| *l == label).expect("every label value has a series")
    }

    pub(crate) fn inc(&self, label: L, statsd: &Statsd) {
        let (_, counter, name) = self.series(label);
        counter.inc();
        if let Some(base) = self.desc.statsd {
            statsd.count(base);
        }
        if let Some(name) = name {
            statsd.count(name);
        }
    }

    pub(crate) fn get(&self, label: L) -> u64 {
        self.series(label).1.get()
    }

    pub(crate) fn write_status(&self, out: &mut Map<String, Value>) {
        let by: Map<String, Value> = L::ALL.iter().map(|l| (l.status_key().to_owned(), self.get(*l).into())).collect();
        insert_at(out, self.desc.status, Value::Object(by));
        if let Some(path) = self.desc.status_total {
            insert_at(out, path, L::ALL.iter().map(|l| self.get(*l)).sum::<u64>().into());
        }
    }
}

/// A figure that goes up and down: kept here (sources downloading), or read from its owner when
/// the status port is asked (queue depth, cache size).
pub(crate) struct Gauge {
    desc: Desc,
    prom: IntGauge,
}

impl Gauge {
    pub(crate) fn new(registry: &Registry, desc: Desc) -> Self {
        let prom = register(registry, IntGauge::with_opts(opts(&desc)).expect("valid metric"));
        Gauge { desc, prom }
    }

    pub(crate) fn set(&self, value: u64) {
        self.prom.set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    pub(crate) fn add(&self, delta: i64) {
        self.prom.add(delta);
    }

    pub(crate) fn write_status(&self, out: &mut Map<String, Value>) {
        insert_at(out, self.desc.status, self.prom.get().into());
    }
}

/// Bucket bounds, seconds: from a memory hit to a slow render of a large original.
const DURATION_BOUNDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A histogram of durations, also sent to statsd as a timer in milliseconds.
pub(crate) struct Timer {
    desc: Desc,
    prom: prometheus::Histogram,
}

impl Timer {
    pub(crate) fn new(registry: &Registry, desc: Desc) -> Self {
        let opts = HistogramOpts::new(desc.prom, desc.help).buckets(DURATION_BOUNDS.to_vec());
        let prom = register(registry, prometheus::Histogram::with_opts(opts).expect("valid metric"));
        Timer { desc, prom }
    }

    pub(crate) fn observe(&self, took: Duration, statsd: &Statsd) {
        self.prom.observe(took.as_secs_f64());
        if let Some(name) = self.desc.statsd {
            statsd.time(name, took);
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.prom.get_sample_count()
    }

    /// The `q` quantile (0..1) in milliseconds, interpolated within its bucket as Prometheus'
    /// `histogram_quantile` does; `None` before the first observation.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        let families = self.prom.collect();
        let histogram = families.first()?.get_metric().first()?.get_histogram();
        let total = histogram.get_sample_count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let (mut lower_bound, mut lower_count) = (0.0, 0u64);
        for bucket in histogram.get_bucket() {
            let (bound, count) = (bucket.upper_bound(), bucket.cumulative_count());
            if count as f64 >= rank {
                let within =
                    if count == lower_count { 0.0 } else { (rank - lower_count as f64) / (count - lower_count) as f64 };
                return Some((lower_bound + (bound - lower_bound) * within) * 1000.0);
            }
            (lower_bound, lower_count) = (bound, count);
        }
        Some(lower_bound * 1000.0)
    }

    pub(crate) fn write_status(&self, out: &mut Map<String, Value>) {
        let mut figures = Map::new();
        figures.insert("count".to_owned(), self.count().into());
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            let ms = self.quantile_ms(q).map(|ms| (ms * 10.0).round() / 10.0);
            figures.insert(name.to_owned(), ms.map_or(Value::Null, Value::from));
        }
        insert_at(out, self.desc.status, Value::Object(figures));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_paths_nest_and_merge() {
        let mut out = Map::new();
        insert_at(&mut out, "cache.entries", 3.into());
        insert_at(&mut out, "cache", serde_json::json!({"memory_hits": 1}));
        insert_at(&mut out, "renders", 2.into());
        assert_eq!(Value::Object(out), serde_json::json!({"cache": {"entries": 3, "memory_hits": 1}, "renders": 2}));
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let timer =
            Timer::new(&Registry::new(), Desc { prom: "t", help: "t", statsd: None, status: "t", status_total: None });
        let statsd = Statsd::off();
        assert_eq!(timer.quantile_ms(0.5), None);
        for _ in 0..10 {
            timer.observe(Duration::from_millis(7), &statsd);
        }
        let p50 = timer.quantile_ms(0.5).unwrap();
        assert!((5.0..=10.0).contains(&p50), "{p50}");
    }
}

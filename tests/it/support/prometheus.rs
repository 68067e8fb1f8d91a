//! A parser for the Prometheus text exposition format (enough for our own /metrics).

use std::collections::BTreeMap;

/// Samples by `name{labels}` (labels as written), with the `# TYPE` of each metric family.
#[derive(Debug, Default)]
pub struct Scrape {
    pub samples: BTreeMap<String, f64>,
    pub types: BTreeMap<String, String>,
}

impl Scrape {
    pub fn parse(text: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                scrape.types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            // The value follows the last space outside the label braces.
            let split = match line.rfind('}') {
                Some(close) => close + 1 + line[close + 1..].find(' ').expect("a value after the labels"),
                None => line.find(' ').expect("name value"),
            };
            let (series, value) = line.split_at(split);
            let value: f64 = value.trim().parse().unwrap_or_else(|_| panic!("bad value in '{line}'"));
            assert!(scrape.samples.insert(series.to_owned(), value).is_none(), "duplicate series {series}");
        }
        scrape
    }

    pub fn get(&self, series: &str) -> f64 {
        *self.samples.get(series).unwrap_or_else(|| panic!("no series {series}"))
    }
}

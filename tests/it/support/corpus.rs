//! The shared image corpus at `../shared/corpus` and its MANIFEST.tsv.

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(dir().join(rel)).unwrap_or_else(|e| panic!("corpus file {rel}: {e}"))
}

/// One row of MANIFEST.tsv.
#[derive(Clone, Debug)]
pub struct Entry {
    pub file: String,
    pub format: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub notes: String,
}

impl Entry {
    /// The frame count the notes give for animations ("animated 31 frames", or "animated; ...;
    /// 6 frames").
    pub fn animated_frames(&self) -> Option<u32> {
        if !self.notes.starts_with("anim") && !self.notes.contains("animated") {
            return None;
        }
        self.notes.split([';', ',']).find_map(|part| {
            let words: Vec<&str> = part.split_whitespace().collect();
            let at = words.iter().position(|w| *w == "frames")?;
            words.get(at.checked_sub(1)?)?.parse().ok()
        })
    }
}

pub fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Entry {
                file: cols[0].to_owned(),
                format: cols[1].to_owned(),
                width: cols[2].parse().ok(),
                height: cols[3].parse().ok(),
                notes: cols.get(5).copied().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

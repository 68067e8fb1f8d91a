//! `Served`: where an answer came from, for logs, metrics and the service's callers.

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Served {
    /// The memory cache (or a load another request was running).
    Memory,
    /// Storage.
    Storage,
    /// Rendered (or, for info, pulled from an origin) by this request.
    Rendered,
}

impl Served {
    /// Short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Memory => "memory",
            Served::Storage => "storage",
            Served::Rendered => "rendered",
        }
    }
}

//! `Exit`: a failure that ends the process, with its exit code and what to print.

/// A failure that ends the process, with its exit code.
#[derive(Debug)]
pub struct Exit {
    /// Process exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

impl Exit {
    pub(crate) fn new(code: u8, message: impl std::fmt::Display) -> Self {
        Exit { code, message: message.to_string() }
    }
}

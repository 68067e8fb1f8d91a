//! How an error is written out for logs and messages: itself and its causes, in one line.

/// The error and its sources, joined with ": " (a cause already at the end of the text is not
/// repeated).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

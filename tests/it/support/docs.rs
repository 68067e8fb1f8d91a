//! The documentation's recipes, read from the page that shows them, so tests run them as written.

/// The code block of `docs/{page}` that starts with `first_line`, up to its closing fence.
pub fn block(page: &str, first_line: &str) -> String {
    let path = format!("{}/docs/{page}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = text.find(first_line).unwrap_or_else(|| panic!("docs/{page} has no block starting {first_line}"));
    let end = text[start..].find("```").unwrap_or_else(|| panic!("docs/{page}: the block has no end"));
    text[start..start + end].to_owned()
}

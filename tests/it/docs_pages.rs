//! The documentation's shape (issue 21): a short README that links every page under docs/, and
//! links between pages that lead somewhere.

use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The targets of `[text](target)` links that are not URLs, without their `#anchor`.
fn local_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .filter(|target| !target.contains("://") && !target.starts_with('#'))
        .map(|target| target.split('#').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_readme_is_short_and_links_every_page_and_every_link_leads_somewhere() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&root.join("README.md"));
    assert!(readme.lines().count() <= 150, "README.md has {} lines", readme.lines().count());
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "{pages:?}");
    let linked = local_links(&readme);
    for page in &pages {
        let name = format!("docs/{}", page.file_name().unwrap().to_str().unwrap());
        assert!(linked.contains(&name), "README.md does not link {name}");
    }
    for (file, dir) in std::iter::once((root.join("README.md"), root.to_owned()))
        .chain(pages.iter().map(|page| (page.clone(), root.join("docs"))))
    {
        for target in local_links(&read(&file)) {
            assert!(dir.join(&target).exists(), "{} links {target}, which does not exist", file.display());
        }
    }
}

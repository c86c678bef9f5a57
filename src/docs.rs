//! The docs, checked: every relative link in the repository's Markdown
//! points at a file a reader of the repository can open, and every
//! `#anchor` at a heading that is there. Test-only.

use std::path::{Path, PathBuf};

/// The Markdown a reader meets: the front door, the docs, the notes beside
/// the themes and screenshots.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<PathBuf> = ["README.md", "CONTRIBUTING.md", "CHANGELOG.md"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    for dir in [
        "docs",
        "themes",
        "screenshots",
        "config",
        "fuzz",
        "benches",
        "scripts",
    ] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            out.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "md")),
            );
        }
    }
    out
}

/// GitHub's anchor for a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}

/// Every `](target)` of a page's prose.
fn links(text: &str) -> Vec<String> {
    let text = prose(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

#[test]
fn every_link_in_the_docs_can_be_followed() {
    let mut broken = Vec::new();
    let pages = pages();
    assert!(pages.len() > 8, "{pages:?}");
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap_or_default();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(Path::new(".")).join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                let there = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&there).iter().any(|h| h == a) {
                    broken.push(format!("{}: {link}: no such heading", page.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links a reader cannot follow:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_front_door_stays_a_door() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
    let lines = readme.lines().count();
    assert!(
        lines <= 200,
        "README.md is {lines} lines; the reference goes in docs/"
    );
    assert_eq!(
        slug("Try it: the demo, from a fresh clone"),
        "try-it-the-demo-from-a-fresh-clone"
    );
    assert_eq!(slug("`status --json`"), "status---json");
}

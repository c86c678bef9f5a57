//! The layering of berth's modules, checked: each top-level module may
//! import only the modules listed for it here, so no import cycle can come
//! back and the engine never reaches into a front end. Test-only.

/// The layers, lowest first. A module may import any module of a lower
/// layer, and none of its own layer or above.
const LAYERS: &[&[&str]] = &[
    &["sanitize"],
    &["labels", "config"],
    &["domain"],
    &["hosts"],
    &["docker"],
    &["inventory", "engine"],
    &["ops"],
    &["tui"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::name` a module's files name, outside comments.
fn imports(module: &str) -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (file, dir) = (src.join(format!("{module}.rs")), src.join(module));
    let mut found = std::collections::BTreeSet::new();
    for (_, code) in sources()
        .into_iter()
        .filter(|(p, _)| *p == file || p.starts_with(&dir))
    {
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (at, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            for name in imports(module) {
                if layer_of(&name).is_none_or(|l| l >= at) {
                    wrong.push(format!("{module} imports {name}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:?}");
}

/// The front ends reach engines and hosts only through `ops`: what the
/// console does and what the CLI does cannot drift apart.
const FRONT_ENDS: &[&str] = &["tui", "cli"];
const BEHIND_OPS: &[&str] = &["docker", "hosts"];

#[test]
fn front_ends_reach_docker_and_hosts_only_through_ops() {
    let wrong: Vec<String> = FRONT_ENDS
        .iter()
        .flat_map(|m| {
            imports(m)
                .into_iter()
                .filter(|n| BEHIND_OPS.contains(&n.as_str()))
                .map(move |n| format!("{m} imports {n}"))
        })
        .collect();
    assert!(wrong.is_empty(), "front ends past ops: {wrong:?}");
}

#[test]
fn every_module_has_a_layer() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "fuzz", "layers", "docs"].contains(&name.as_str()) {
            continue;
        }
        assert!(
            layer_of(&name).is_some(),
            "src/{name} has no place in the layering"
        );
    }
}

/// Every `.rs` file under `src/`, with its text outside comments.
fn sources() -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or_default())
                    .collect();
                out.push((p, code.join("\n")));
            }
        }
    }
    out
}

/// One door to Docker: bollard is named only under `src/docker/`.
#[test]
fn only_the_docker_module_calls_bollard() {
    let docker = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/docker");
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|(p, code)| {
            !p.starts_with(&docker) && !p.ends_with("layers.rs") && code.contains("bollard")
        })
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "bollard outside src/docker/: {outside:?}"
    );
}

/// Connections are passed down, never kept in a process-wide static: no
/// `static` in the library holding a lock or a connection (the binary's
/// edge keeps the gateway for a broken pipe's exit, `cli::AT_EXIT`).
#[test]
fn no_process_wide_connection_pools() {
    let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&cli) && !p.ends_with("layers.rs"))
        .flat_map(|(p, code)| {
            code.lines()
                .filter(|l| {
                    let l = l.trim_start();
                    (l.starts_with("static ") || l.starts_with("pub static "))
                        && [
                            "Mutex", "Gateway", "Pool", "Tunnel", "Client", "Docker", "HashMap",
                        ]
                        .iter()
                        .any(|t| l.contains(t))
                })
                .map(|l| format!("{}: {}", p.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "process-wide statics: {found:?}");
}

/// Inside each top-level module, which of its child modules each child
/// names: `super::x` in `child.rs`, `super::super::x` below `child/`, and
/// `crate::top::x` anywhere in it.
fn sibling_edges(
    top: &str,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(top);
    let children: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            (name != "mod" && name != "tests").then_some(name)
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let named = |code: &str, prefix: &str| -> Vec<String> {
        code.match_indices(prefix)
            .map(|(i, _)| {
                code[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| children.contains(n))
            .collect()
    };
    let mut edges = std::collections::BTreeMap::new();
    for (path, code) in sources() {
        let Ok(rel) = path.strip_prefix(&dir) else {
            continue;
        };
        // A test may use any part of what it tests.
        if path.file_name().is_some_and(|f| f == "tests.rs") {
            continue;
        }
        let mut parts = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let Some(first) = parts.next() else { continue };
        let child = first.trim_end_matches(".rs").to_string();
        if !children.contains(&child) {
            continue;
        }
        let nested = rel.components().count() > 1;
        let mut found = named(&code, &format!("crate::{top}::"));
        found.extend(named(
            &code,
            if nested { "super::super::" } else { "super::" },
        ));
        let set: &mut std::collections::BTreeSet<String> = edges.entry(child.clone()).or_default();
        set.extend(found.into_iter().filter(|n| *n != child));
    }
    edges
}

/// No two modules inside a layer need each other (`config`'s kamal,
/// migrate and model did; `hosts`'s files and ssh did): a circle means
/// neither can be read, tested or moved alone.
#[test]
fn no_import_circle_inside_a_module() {
    let mut circles = Vec::new();
    for top in LAYERS.iter().flat_map(|l| l.iter()) {
        let edges = sibling_edges(top);
        for start in edges.keys() {
            // Depth-first from `start`, looking for a way back to it.
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            let mut seen = std::collections::BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if next == start {
                        circles.push(format!("{top}: {} -> {start}", path.join(" -> ")));
                    } else if seen.insert(next.clone()) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
    // The scan sees what it must: config's kamal reads positions from locate.
    let config = sibling_edges("config");
    assert!(
        config.get("kamal").is_some_and(|e| e.contains("locate")),
        "{config:?}"
    );
}

/// A file past 700 lines holds more than one concern: split it by them.
#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter_map(|(p, _)| {
            let n = std::fs::read_to_string(&p).ok()?.lines().count();
            (n > 700).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by concern: {long:?}");
}

/// One writer between berth and the terminal: no code writes to stdout or
/// stderr but the CLI's writer (`cli/term.rs`, which cleans all it
/// writes), `sanitize::say_on_stderr`, the console's terminal (`tui/mod.rs`:
/// the backend ratatui draws through, whose cells `view::draw` cleans, and
/// crossterm's commands) and the interactive shell's raw pass-through
/// (`tui/shell.rs`). Asking whether a stream is a terminal, or flushing
/// it, writes nothing and is allowed anywhere.
#[test]
fn only_the_writer_writes_to_the_terminal() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let writers = ["cli/term.rs", "sanitize.rs", "tui/mod.rs", "tui/shell.rs"];
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(p, _)| {
            let rel = p.strip_prefix(&root).unwrap_or(p);
            let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !writers.iter().any(|w| rel == std::path::Path::new(w))
                && !["tests.rs", "testing.rs", "layers.rs", "fuzz.rs"].contains(&name)
        })
        .flat_map(|(p, code)| {
            // What a file's own tests print is theirs.
            let code = code
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or("")
                .to_string();
            code.lines()
                .filter(|l| {
                    let printing = ["println!", "print!(", "dbg!("]
                        .iter()
                        .any(|m| l.contains(m));
                    let stream = ["io::stdout()", "io::stderr()"]
                        .iter()
                        .any(|s| l.contains(s))
                        && !l.contains(".is_terminal()")
                        && !l.contains(".flush()");
                    printing || stream
                })
                .map(|l| format!("{}: {}", p.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        found.is_empty(),
        "writes to the terminal past the writer (use outln!/errln! in the CLI): {found:#?}"
    );
}

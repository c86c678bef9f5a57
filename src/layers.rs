//! The layering of berth's modules, checked: each top-level module may
//! import only the modules listed for it here, so no import cycle can come
//! back and the engine never reaches into a front end. Test-only.

/// The layers, lowest first. A module may import any module of a lower
/// layer, and none of its own layer or above.
const LAYERS: &[&[&str]] = &[
    &["sanitize"],
    &["labels", "config"],
    &["domain"],
    &["docker"],
    &["hosts"],
    &["inventory", "engine"],
    &["doctor"],
    &["tui"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::name` a module's files name, outside comments.
fn imports(module: &str) -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for f in files.iter().filter(|f| f.exists()) {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
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

#[test]
fn every_module_has_a_layer() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "fuzz", "layers"].contains(&name.as_str()) {
            continue;
        }
        assert!(
            layer_of(&name).is_some(),
            "src/{name} has no place in the layering"
        );
    }
}

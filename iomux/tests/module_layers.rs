//! The Poller's core is layered: no module of it imports, directly or
//! through others, a module that imports it back, and `Events` names no
//! backend's types. Read from the sources, so a new cycle fails here.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The modules of the core (the reactor is a layer above, left out), and
/// the files each is made of.
fn core_modules() -> BTreeMap<&'static str, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for name in [
        "deliver",
        "event",
        "eventfd",
        "forgotten",
        "interest",
        "poller",
        "registered",
        "table",
        "waker",
    ] {
        let text = std::fs::read_to_string(src.join(format!("{name}.rs")))
            .unwrap_or_else(|e| panic!("src/{name}.rs: {e}"));
        modules.insert(name, vec![text]);
    }
    let mut backend = Vec::new();
    for dir in [src.join("backend"), src.join("backend/uring")] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "rs") {
                backend.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    backend.push(std::fs::read_to_string(src.join("backend.rs")).unwrap_or_default());
    modules.insert("backend", backend);
    modules
}

/// Code without comments (doc links may name any item).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The core modules a module's code refers to as `crate::name`.
fn imports(files: &[String], names: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in files {
        let code = code(text);
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if names.contains(word.as_str()) {
                out.insert(word);
            }
        }
        // `use crate::{a, b}` groups.
        for (i, _) in code.match_indices("crate::{") {
            let group = &code[i + "crate::{".len()..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for part in group.split(',') {
                let word = part.trim().split("::").next().unwrap_or("").trim();
                if names.contains(word) {
                    out.insert(word.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn core_modules_import_each_other_without_cycles() {
    let modules = core_modules();
    let names: BTreeSet<&str> = modules.keys().copied().collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = modules
        .iter()
        .map(|(name, files)| {
            let mut deps = imports(files, &names);
            deps.remove(*name);
            (*name, deps)
        })
        .collect();
    // Depth-first search for a path back to the start.
    for &start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.into()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in &graph[at.as_str()] {
                let mut longer = path.clone();
                longer.push(next.clone());
                assert!(
                    next != start,
                    "import cycle in the core: {}",
                    longer.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
}

#[test]
fn events_names_no_backend() {
    let modules = core_modules();
    let event = code(&modules["event"][0]);
    for backend_word in ["epoll", "uring", "pollfd", "fd_set"] {
        assert!(
            !event.contains(backend_word),
            "event.rs code mentions {backend_word}: Events must be backend-agnostic"
        );
    }
}

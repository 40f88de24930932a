//! The library is layered, and every arrow points down:
//!
//! 1. the cores: the Poller's (`deliver`, `event`, `eventfd`, `forgotten`,
//!    `interest`, `name`, `poller`, `registered`, `table`, `waker`, `backend`) and
//!    io_uring's (`uring`);
//! 2. what the reactor and the runtime share: `conn` (the sans-IO
//!    connection), `socket` (listening, accepting, the EMFILE trick),
//!    `time` (the timer heap, the per-turn clock), `slab`;
//! 3. the reactor (`reactor`) and the runtime (`rt`), neither importing
//!    the other.
//!
//! A module may import modules of lower layers; within the two lower
//! layers it may import its neighbours, without a cycle; in the top layer
//! not even that. Read from the sources (every `crate::` path, every
//! `super::` that climbs to the crate root, every name `lib.rs`
//! re-exports), so an arrow back up fails here, as does a new module that
//! has not been given a layer.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first.
const LAYERS: &[&[&str]] = &[
    &[
        "deliver",
        "event",
        "eventfd",
        "forgotten",
        "interest",
        "name",
        "poller",
        "registered",
        "table",
        "waker",
        "backend",
        "uring",
    ],
    &["conn", "socket", "time", "slab"],
    &["reactor", "rt"],
];

/// Whether the modules of a layer may import each other (acyclically).
fn siblings_may_import(layer: usize) -> bool {
    layer + 1 < LAYERS.len()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// One source file: its text, and how many `super::` reach the crate root
/// from it (1 for `src/x.rs` and `src/x/mod.rs`, 2 for `src/x/y.rs`, ...).
struct File {
    path: PathBuf,
    text: String,
    depth: usize,
}

fn files_under(dir: &Path, depth: usize, out: &mut Vec<File>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, depth + 1, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let depth = if path.file_name().is_some_and(|n| n == "mod.rs") {
                depth
            } else {
                depth + 1
            };
            out.push(File { path, text, depth });
        }
    }
}

/// Every top-level module of the library (each `src/x.rs` and `src/x/`
/// but `lib.rs`), and the files it is made of.
fn modules() -> BTreeMap<String, Vec<File>> {
    let mut modules: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut files = Vec::new();
            files_under(&path, 1, &mut files);
            modules.entry(name).or_default().extend(files);
        } else if path.extension().is_some_and(|x| x == "rs") && name != "lib" {
            let text = std::fs::read_to_string(&path).unwrap();
            modules.entry(name).or_default().push(File {
                path,
                text,
                depth: 1,
            });
        }
    }
    modules
}

/// The names `lib.rs` re-exports at the crate root, and the module each
/// comes from (`pub use poller::Poller;`: `Poller` → `poller`).
fn root_reexports() -> BTreeMap<String, String> {
    let lib = code(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut out = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let item = item.trim();
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            if !name.is_empty() {
                out.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

/// Code without comments (doc links may name any item).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn word_at(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules one file's code reaches from the crate root:
/// `crate::name`, `crate::{a, b::c}`, `super::` climbed to the root, and
/// the root's re-exports.
fn imports(
    file: &File,
    modules: &BTreeSet<String>,
    roots: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let code = code(&file.text);
    let to_root = "super::".repeat(file.depth);
    let mut out = BTreeSet::new();
    let mut name = |word: &str| {
        if modules.contains(word) {
            out.insert(word.to_string());
        } else if let Some(m) = roots.get(word) {
            out.insert(m.clone());
        }
    };
    for prefix in ["crate::", to_root.as_str()] {
        for (i, _) in code.match_indices(prefix) {
            // `super::super::x` seen from a deeper file is not the root.
            if prefix != "crate::" && code[..i].ends_with("super::") {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for part in group.split(',') {
                    name(&word_at(part.trim()));
                }
            } else {
                name(&word_at(rest));
            }
        }
    }
    out
}

/// Each module and the modules it imports, with the file that does.
fn graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let roots = root_reexports();
    modules
        .iter()
        .map(|(name, files)| {
            let mut deps = BTreeMap::new();
            for file in files {
                for dep in imports(file, &names, &roots) {
                    if dep != *name {
                        deps.entry(dep).or_insert_with(|| file.path.clone());
                    }
                }
            }
            (name.clone(), deps)
        })
        .collect()
}

#[test]
fn every_module_has_a_layer() {
    for name in modules().keys() {
        assert!(
            layer_of(name).is_some(),
            "src/{name} is in no layer: add it to LAYERS in tests/module_layers.rs"
        );
    }
    for name in LAYERS.iter().flat_map(|l| l.iter()) {
        assert!(
            modules().contains_key(*name),
            "LAYERS names {name}, which is not a module of src/ any more"
        );
    }
}

#[test]
fn no_module_imports_up_or_across_the_top() {
    let mut wrong = Vec::new();
    for (name, deps) in graph() {
        let Some(at) = layer_of(&name) else { continue };
        for (dep, file) in deps {
            let Some(to) = layer_of(&dep) else { continue };
            if to > at {
                wrong.push(format!(
                    "{name} (layer {at}) imports {dep} (layer {to}, higher): {}",
                    file.display()
                ));
            } else if to == at && !siblings_may_import(at) {
                wrong.push(format!(
                    "{name} imports {dep}, its sibling in the top layer: {}",
                    file.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn modules_import_each_other_without_cycles() {
    let graph = graph();
    // Depth-first search for a path back to the start.
    for start in graph.keys() {
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph[&at].keys() {
                let mut longer = path.clone();
                longer.push(next.clone());
                assert!(next != start, "import cycle: {}", longer.join(" -> "));
                if seen.insert(next.clone()) {
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
}

/// The test reads what it should: the runtime's listeners are made by the
/// shared `socket` module, and the reactor imports `conn`.
#[test]
fn the_graph_sees_known_imports() {
    let graph = graph();
    assert!(
        graph["rt"].contains_key("socket"),
        "rt -> socket: {:?}",
        graph["rt"]
    );
    assert!(graph["reactor"].contains_key("conn"));
    assert!(
        graph["reactor"].contains_key("poller"),
        "through crate::Poller"
    );
}

#[test]
fn events_names_no_backend() {
    let modules = modules();
    let event = code(&modules["event"][0].text);
    for backend_word in ["epoll", "uring", "pollfd", "fd_set"] {
        assert!(
            !event.contains(backend_word),
            "event.rs code mentions {backend_word}: Events must be backend-agnostic"
        );
    }
}

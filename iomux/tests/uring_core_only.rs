//! No io_uring ring is set up outside the io_uring core (`iomux/src/uring/`):
//! the repository's Rust sources are scanned, comments and string literals
//! aside, for `IoUring::builder`, `IoUring::new` and the `io_uring_setup`
//! system call. Build directories (`target/`) and the peer servers of
//! `bench/` (other projects, measured against) are not ours and are skipped.

use std::path::{Path, PathBuf};

/// What sets up a ring.
const SETUP: [&str; 4] = [
    "IoUring::builder",
    "IoUring::new",
    "IoUring::<",
    "SYS_io_uring_setup",
];

/// Files allowed to name `SYS_io_uring_setup`, and why: the seccomp filter
/// of the unavailability tests makes the call fail, it does not make it.
const DENIES_THE_CALL: [&str; 1] = ["iomux/tests/seccomp/mod.rs"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the crate")
        .to_path_buf()
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = e.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name == "target" || name.starts_with('.') || rel == Path::new("bench") {
                continue;
            }
            rust_files(&path, root, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// `src` with comments and the contents of string and char literals
/// blanked out (line structure kept), so that prose may name what code
/// may not.
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && {
            let mut j = i + 1;
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            b.get(j) == Some(&'"')
        } {
            // A raw string: r#*"…"#*.
            let mut hashes = 0;
            i += 1;
            while b[i] == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            out.push('"');
            while i < b.len() {
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
            out.push('"');
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: skip to its closing quote.
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            out.push_str("' '");
            i += 1;
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[test]
fn the_scanner_sees_code_and_not_prose() {
    let src = "// IoUring::builder\nlet s = \"IoUring::new\"; let c = '\"';\nlet r = IoUring::builder();\n/* io_uring_setup */ let x = r#\"IoUring::new\"#;";
    let code = code_only(src);
    assert_eq!(code.lines().count(), src.lines().count());
    assert_eq!(code.matches("IoUring::builder").count(), 1, "{code}");
    assert!(!code.contains("IoUring::new"), "{code}");
    assert!(code.lines().nth(2).unwrap().contains("IoUring::builder"));
}

#[test]
fn no_ring_is_set_up_outside_the_core() {
    let root = repo_root();
    let core = root.join("iomux/src/uring");
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    let ours = |p: &str| files.iter().any(|f| f.ends_with(p));
    // The scan reaches every io_uring user.
    for user in [
        "iomux/src/backend/uring.rs",
        "iomux/src/rt/uring.rs",
        "iomux-cli/src/serve/uring.rs",
        "iomux/src/reactor/event_loop/completion.rs",
        "iomux-cli/src/load/uring_engine.rs",
        "iomux/src/uring/setup.rs",
    ] {
        assert!(
            ours(user)
                || files
                    .iter()
                    .any(|f| f.starts_with(root.join(user.trim_end_matches(".rs")))),
            "{user} not scanned"
        );
    }
    let mut found = Vec::new();
    for f in &files {
        if f.starts_with(&core) {
            continue;
        }
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let Ok(src) = std::fs::read_to_string(f) else {
            continue;
        };
        let code = code_only(&src);
        for (n, line) in code.lines().enumerate() {
            for pat in SETUP {
                if line.contains(pat)
                    && !(pat == "SYS_io_uring_setup" && DENIES_THE_CALL.contains(&rel.as_str()))
                {
                    found.push(format!(
                        "{rel}:{}: {}",
                        n + 1,
                        src.lines().nth(n).unwrap_or("").trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "io_uring rings set up outside iomux/src/uring/ (use iomux::uring::Ring):\n{}",
        found.join("\n")
    );
}

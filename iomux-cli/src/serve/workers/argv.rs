//! The command line of a worker: the master's own `serve` arguments, minus
//! the ones only the master acts on, plus the resolved address and the
//! hidden flags that make the process a worker. Every other flag (model,
//! mode, threads, limits, and any flag added later) passes through as the
//! user wrote it.

use std::ffi::{OsStr, OsString};

/// Flags with a value that the master consumes and workers must not see.
const MASTER_ONLY: [&str; 3] = ["--workers", "--worker-sharing", "--addr"];

/// The arguments after `serve` in `argv` (the master's whole command line),
/// with the master-only flags (and their values, in either the `--flag v`
/// or the `--flag=v` form) removed.
pub fn passed_through(argv: &[OsString]) -> Vec<OsString> {
    let start = argv
        .iter()
        .position(|a| a == OsStr::new("serve"))
        .map_or(argv.len(), |i| i + 1);
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in &argv[start..] {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if MASTER_ONLY.contains(&text.as_ref()) {
            skip_value = true;
        } else if !MASTER_ONLY
            .iter()
            .any(|flag| text.starts_with(&format!("{flag}=")))
        {
            out.push(arg.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn drops_what_only_the_master_acts_on() {
        let argv = strings(&[
            "/bin/iomux",
            "serve",
            "--workers",
            "3",
            "--model",
            "poll",
            "--addr=127.0.0.1:0",
            "--worker-sharing",
            "exclusive",
            "--threads",
            "2",
            "--addr",
            "127.0.0.1:9",
            "--proto",
            "echo",
        ]);
        assert_eq!(
            passed_through(&argv),
            strings(&["--model", "poll", "--threads", "2", "--proto", "echo"])
        );
    }

    #[test]
    fn nothing_after_serve_is_nothing() {
        assert!(passed_through(&strings(&["iomux", "serve"])).is_empty());
    }
}

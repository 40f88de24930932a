//! Re-executing this binary as a helper process (the workers of `serve
//! --workers`, the clients of `load --procs`): the parent's own arguments
//! after the subcommand, minus the flags only the parent acts on. Every
//! other flag, including any added later, passes through as the user
//! wrote it; the parent appends what each child needs.

use std::ffi::{OsStr, OsString};

/// The arguments after `subcommand` in `argv` (the parent's whole command
/// line), without the flags in `with_value` (and their values, in either
/// the `--flag v` or the `--flag=v` form) and the flags in `switches`.
pub fn passed_through(
    argv: &[OsString],
    subcommand: &str,
    with_value: &[&str],
    switches: &[&str],
) -> Vec<OsString> {
    let start = argv
        .iter()
        .position(|a| a == OsStr::new(subcommand))
        .map_or(argv.len(), |i| i + 1);
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in &argv[start..] {
        if skip_value {
            skip_value = false;
            continue;
        }
        let text = arg.to_string_lossy();
        if with_value.contains(&text.as_ref()) {
            skip_value = true;
        } else if !switches.contains(&text.as_ref())
            && !with_value
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

    const MASTER_ONLY: [&str; 3] = ["--workers", "--worker-sharing", "--addr"];

    #[test]
    fn drops_what_only_the_parent_acts_on() {
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
            "--json",
            "--addr",
            "127.0.0.1:9",
            "--proto",
            "echo",
        ]);
        assert_eq!(
            passed_through(&argv, "serve", &MASTER_ONLY, &["--json"]),
            strings(&["--model", "poll", "--threads", "2", "--proto", "echo"])
        );
    }

    #[test]
    fn nothing_after_serve_is_nothing() {
        let argv = strings(&["iomux", "serve"]);
        assert!(passed_through(&argv, "serve", &MASTER_ONLY, &[]).is_empty());
    }
}

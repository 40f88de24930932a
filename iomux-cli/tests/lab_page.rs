//! `iomux lab --from-json`: the page written again from a report, here the
//! sample run's with one cell made to fail. The page shows the failed cell
//! with its error, and everything `iomux_lab::page_checks` asks of a page; a file
//! that is not a report gets a clear error.

mod spawn;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use iomux_lab::page_checks;
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(60);
const ERROR: &str = "only 3 of 100 connections up; load errors <42> & \"more\"";

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iomux-lab-page-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rerender(from: &Path, out: &Path) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .args(["lab", "--from-json"])
        .arg(from)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iomux lab --from-json");
    let status = spawn::exit_within(&mut child, LIMIT, "iomux lab --from-json");
    let mut output = child.wait_with_output().expect("output");
    output.status = status;
    output
}

#[test]
fn a_failed_cell_is_on_the_page_with_its_error() {
    let dir = temp("failed");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lab-sample/report.json");
    let mut json: Value =
        serde_json::from_str(&std::fs::read_to_string(sample).expect("the sample report"))
            .expect("JSON");
    let cell = json["cells"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["model"] == "select" && c["sweep"] == "active" && c["conns"] == 100)
        .expect("select, all active, N = 100");
    cell["status"] = "failed".into();
    cell["error"] = ERROR.into();
    let input = dir.join("in.json");
    std::fs::write(&input, json.to_string()).unwrap();
    let out = dir.join("out");
    let run = rerender(&input, &out);
    assert!(run.status.success(), "{run:?}");

    let (html, written) = page_checks::check_page(&out);
    let e = page_checks::esc(ERROR);
    let failed = page_checks::between(&html, "<ul id=\"failed-cells\"", "</ul>");
    assert!(
        failed.contains("select")
            && failed.contains("active N = 100, K = 100: <b>failed</b>")
            && failed.contains(&e),
        "the failed cell with its error: {failed}"
    );
    let cells = page_checks::between(&html, "<table id=\"cells-table\"", "</table>");
    assert!(
        cells.contains(&format!("<td class=\"error\">{e}</td>")),
        "and in the table"
    );
    let rps = page_checks::between(&html, "<figure id=\"plot-rps_active\"", "</figure>");
    assert!(
        rps.contains(&format!("select at N = 100: {e}")),
        "and under the plots it misses from"
    );
    assert!(
        written["rendered"]
            .as_str()
            .is_some_and(|r| r.contains("in.json")),
        "the page says it was rendered from a report: {}",
        written["rendered"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_a_report_is_a_clear_error() {
    let dir = temp("bad");
    let input = dir.join("not-a-report.json");
    std::fs::write(&input, "{\"profile\": 3}").unwrap();
    let run = rerender(&input, &dir.join("out"));
    assert!(!run.status.success(), "{run:?}");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("is not a lab report"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

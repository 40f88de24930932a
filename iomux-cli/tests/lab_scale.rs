//! `iomux lab --scale` at a small scale (N = 2,000 and 4,000, K = 20):
//! report.json holds every model × every N, each cell with its numbers or
//! its reason; both verdicts are there, the million one "not measured"
//! (this run has no N = 1,000,000); report.md, index.html and the plots
//! are written. Then `--from-json` renders the same report again.

mod spawn;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(180);

const MODELS: [&str; 5] = ["epoll-lt", "uring", "poll", "select", "blocking"];
const NS: [u64; 2] = [2000, 4000];

fn lab(args: &[&str], out: &Path, what: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iomux"))
        .arg("lab")
        .args(args)
        .arg("--out")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn iomux lab");
    let status = spawn::exit_within(&mut child, LIMIT, what);
    assert!(status.success(), "{what}: {status}");
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report.json"))
        .expect("JSON")
}

#[test]
fn small_scale_lab_reports_every_cell_and_both_verdicts() {
    let out: PathBuf =
        std::env::temp_dir().join(format!("iomux-lab-scale-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    lab(
        &[
            "--scale",
            "--quick",
            "--scale-conns",
            "4000,2000",
            "--scale-active",
            "20",
        ],
        &out,
        "iomux lab --scale",
    );
    let json = report(&out);
    assert_eq!(json["kind"], "scale");
    let models: Vec<&str> = json["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(models, MODELS, "every model, in order");
    assert_eq!(json["conns"], serde_json::json!(NS), "N sorted");
    let cells = json["cells"].as_array().expect("cells");
    let got: BTreeSet<(String, u64)> = cells
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_string(),
                c["conns"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, u64)> = MODELS
        .iter()
        .flat_map(|m| NS.map(|n| (m.to_string(), n)))
        .collect();
    assert_eq!(got, expected, "every model × every N");
    assert_eq!(cells.len(), expected.len(), "no duplicate cell");
    for c in cells {
        let what = format!("{} N = {}: {c}", c["model"], c["conns"]);
        assert_eq!(c["active"], 20, "{what}");
        match c["status"].as_str().unwrap() {
            "ok" => {
                for k in [
                    "rps",
                    "p99_us",
                    "cpu_us_per_req",
                    "user_b_per_conn",
                    "kernel_b_per_conn",
                    "connect_s",
                ] {
                    assert!(c[k].as_f64().is_some(), "{k} measured: {what}");
                }
                assert!(c["rps"].as_f64().unwrap() > 0.0, "{what}");
                assert!(c["cpu_us_per_req"].as_f64().unwrap() > 0.0, "{what}");
                assert_eq!(c["connected"], c["conns"], "{what}");
                assert_eq!(c["lost"], 0, "{what}");
                assert_eq!(c["connect_errors"], 0, "{what}");
                assert_eq!(
                    c["idle_checked"].as_u64(),
                    Some(c["conns"].as_u64().unwrap() - 20),
                    "every idle connection checked: {what}"
                );
            }
            _ => {
                let reason = c["reason"].as_str().unwrap_or("");
                assert!(
                    !reason.is_empty(),
                    "a cell without numbers says why: {what}"
                );
            }
        }
    }
    // epoll, at least, runs at this scale.
    assert!(
        cells
            .iter()
            .any(|c| c["model"] == "epoll-lt" && c["status"] == "ok"),
        "epoll-lt cells ok"
    );
    let claims = json["claims"].as_array().expect("claims");
    let ids: Vec<&str> = claims.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["epoll-million", "select-poll-thousands"]);
    for c in claims {
        assert!(
            !c["verdict"].as_str().unwrap_or("").is_empty(),
            "a verdict: {c}"
        );
        assert!(
            !c["evidence"].as_str().unwrap_or("").is_empty(),
            "evidence: {c}"
        );
    }
    assert!(
        claims[0]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("not measured"),
        "no million cell, no guess: {}",
        claims[0]
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(md.contains("## Verdicts") && md.contains("halved"), "{md}");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    for id in [
        "claim-epoll-million",
        "claim-select-poll-thousands",
        "scale-cells-table",
    ] {
        assert!(html.contains(id), "index.html has {id}");
    }
    for svg in [
        "scale_cpu.svg",
        "scale_user_mem.svg",
        "scale_kernel_mem.svg",
    ] {
        assert!(out.join(svg).exists(), "{svg} written");
        assert!(
            html.contains(&format!("data-plot=\"{svg}\"")),
            "{svg} in the page"
        );
    }

    // The same report rendered again from its JSON.
    let again = out.join("again");
    let from = out.join("report.json");
    lab(
        &["--from-json", from.to_str().unwrap()],
        &again,
        "iomux lab --from-json (scale)",
    );
    let json2 = report(&again);
    assert_eq!(json2["cells"], json["cells"], "the same cells");
    assert!(json2["rendered"].as_str().is_some());
    let _ = std::fs::remove_dir_all(&out);
}

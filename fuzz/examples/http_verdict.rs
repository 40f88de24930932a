//! The framing's verdict on requests read from stdin, for the differential
//! harness (scripts/http-diff.py): one request stream per line, hex-encoded;
//! one line out per stream:
//!
//! `closed consumed|- status:body_hex status:body_hex ...`
//!
//! `consumed` is `-` after a refusal (the rest of the input is dropped).
//! Default limits.

use std::io::{BufRead, Write};

use iomux_fuzz::framing::feed;
use iomux_fuzz::proto::Limits;

fn unhex(line: &str) -> Option<Vec<u8>> {
    let line = line.trim();
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(line.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits the handler's output into (status, body) pairs.
fn responses(mut out: &[u8]) -> Vec<(u16, &[u8])> {
    let mut all = Vec::new();
    while let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&out[..end]);
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let body_end = (end + 4 + length).min(out.len());
        all.push((status, &out[end + 4..body_end]));
        out = &out[body_end..];
    }
    all
}

fn main() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        let Some(input) = unhex(&line) else {
            writeln!(stdout, "error bad hex").unwrap();
            continue;
        };
        let v = feed(Limits::default(), &input, &[]);
        let consumed = v.consumed.map_or("-".to_string(), |n| n.to_string());
        let answers: Vec<String> = responses(&v.output)
            .into_iter()
            .map(|(s, body)| format!("{s}:{}", hex(body)))
            .collect();
        writeln!(
            stdout,
            "{} {consumed} {}",
            u8::from(v.closed),
            answers.join(" ")
        )
        .unwrap();
        stdout.flush().unwrap();
    }
}

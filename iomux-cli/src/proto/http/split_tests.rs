//! Read boundaries must not matter: the same bytes, fed whole or cut into
//! random pieces the way a socket delivers them, get the same answers and
//! the same verdict (keep going or close). Checked on random request
//! streams, valid ones and byte-level mutations of them; none may panic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

const PIECES: &[&[u8]] = &[
    b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /nope?x=1 HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=1\r\nd\r\n0\r\nT: 1\r\n\r\n",
    b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"DELETE /echo HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
];

/// The `Date` value changes with the second; nothing else may differ.
fn without_dates(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .split("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Feeds `input` in pieces ending at `cuts` (a socket's reads), keeping
/// what the handler left unconsumed, as a connection does.
fn feed(input: &[u8], cuts: &[usize]) -> (String, Action) {
    let mut h = Http::new(Limits::default());
    let (mut out, mut pending) = (Vec::new(), Vec::new());
    let mut from = 0;
    for &to in cuts.iter().chain([&input.len()]) {
        pending.extend_from_slice(&input[from..to]);
        from = to;
        let (used, action) = h.on_data(&pending, &mut out);
        assert!(used <= pending.len(), "consumed more than it was given");
        pending.drain(..used);
        if action == Action::Close {
            return (without_dates(&out), action);
        }
    }
    (without_dates(&out), Action::Continue)
}

fn stream(rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..rng.gen_range(1..8) {
        bytes.extend_from_slice(PIECES[rng.gen_range(0..PIECES.len())]);
    }
    if rng.gen_bool(0.5) {
        // Byte-level damage: flip, insert or delete a few bytes.
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..bytes.len());
            match rng.gen_range(0..3) {
                0 => bytes[at] = rng.r#gen(),
                1 => bytes.insert(at, rng.r#gen()),
                _ => {
                    bytes.remove(at);
                }
            }
            if bytes.is_empty() {
                bytes.push(b'G');
            }
        }
    }
    bytes
}

#[test]
fn answers_do_not_depend_on_read_boundaries() {
    for seed in 0..3000u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let input = stream(&mut rng);
        let whole = feed(&input, &[]);
        let mut cuts: Vec<usize> = (0..rng.gen_range(1..6))
            .map(|_| rng.gen_range(0..=input.len()))
            .collect();
        cuts.sort_unstable();
        let split = feed(&input, &cuts);
        assert_eq!(
            whole,
            split,
            "seed {seed}: cut at {cuts:?}, input {:?}",
            String::from_utf8_lossy(&input)
        );
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            whole,
            feed(&input, &bytewise),
            "seed {seed}: one byte at a time, input {:?}",
            String::from_utf8_lossy(&input)
        );
    }
}

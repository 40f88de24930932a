//! Feeding bytes to the HTTP handler as a connection does, and what the
//! handler decided: the answers, whether it closed, how much it consumed.

use iomux::conn::{Action, Handler};

use crate::proto::Limits;
use crate::proto::http::Http;

/// The interim answer to `Expect: 100-continue`: sent only when the body
/// has not arrived yet, so it depends on the reads, legitimately.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The bodies of the refusals (400, 413, 414, 431, 501): the last answer
/// of a connection whose remaining input was dropped.
const REFUSALS: [&[u8]; 5] = [
    b"400 Bad Request\n",
    b"413 Content Too Large\n",
    b"414 URI Too Long\n",
    b"431 Request Header Fields Too Large\n",
    b"501 Not Implemented\n",
];

/// What the handler made of a byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every answer, `Date` lines and interim 100s removed.
    pub output: Vec<u8>,
    /// The handler asked to close.
    pub closed: bool,
    /// Bytes consumed; `None` after a refusal, which consumes whatever
    /// input there is (what follows a refused request is dropped unread).
    pub consumed: Option<usize>,
}

impl Verdict {
    /// The last answer is a refusal.
    pub fn refused(&self) -> bool {
        self.closed && REFUSALS.iter().any(|r| self.output.ends_with(r))
    }
}

/// Removes every occurrence of `needle` from `hay`.
fn remove_all(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// The answers without what legitimately varies: the `Date` value (the
/// clock may tick between two runs) and interim 100 Continue answers.
fn normalised(out: &[u8]) -> Vec<u8> {
    let mut cleaned = Vec::with_capacity(out.len());
    let mut rest = out;
    while let Some(at) = find(rest, b"\r\nDate: ") {
        // "Date: " + 29 bytes of IMF-fixdate.
        let skip = at + 2 + 6 + 29;
        cleaned.extend_from_slice(&rest[..at + 2]);
        cleaned.extend_from_slice(b"Date: -");
        rest = &rest[skip.min(rest.len())..];
    }
    cleaned.extend_from_slice(rest);
    remove_all(&cleaned, CONTINUE)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Feeds `input` in reads ending at `cuts` (ascending, within the input),
/// keeping what the handler leaves unconsumed, as a connection does; stops
/// at the first `Close`.
pub fn feed(limits: Limits, input: &[u8], cuts: &[usize]) -> Verdict {
    let mut h = Http::new(limits);
    let (mut out, mut pending) = (Vec::new(), Vec::new());
    let mut consumed = 0;
    let mut from = 0;
    for &to in cuts.iter().chain([&input.len()]) {
        let to = to.clamp(from, input.len());
        pending.extend_from_slice(&input[from..to]);
        from = to;
        let (used, action) = h.on_data(&pending, &mut out);
        assert!(used <= pending.len(), "consumed more than it was given");
        let _ = h.deadline();
        pending.drain(..used);
        consumed += used;
        if action == Action::Close {
            let mut v = Verdict {
                output: normalised(&out),
                closed: true,
                consumed: Some(consumed),
            };
            if v.refused() {
                assert!(
                    pending.is_empty(),
                    "a refusal must drop the rest of the input"
                );
                v.consumed = None;
            }
            return v;
        }
    }
    Verdict {
        output: normalised(&out),
        closed: false,
        consumed: Some(consumed),
    }
}

/// A small deterministic generator (xorshift), for split points.
pub struct Rng(u64);

impl Rng {
    /// Seeded from some bytes.
    pub fn from_bytes(bytes: &[u8]) -> Rng {
        let mut h = 0x9E37_79B9_7F4A_7C15u64;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
        Rng(h | 1)
    }

    /// The next number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Limits chosen by four bytes: the defaults, or small ones so that short
/// inputs reach every limit.
pub fn limits_from(params: [u8; 4]) -> Limits {
    if params[0] & 1 == 0 {
        return Limits::default();
    }
    Limits {
        max_header_bytes: 24 + usize::from(params[1]),
        max_uri_bytes: 1 + usize::from(params[2] % 64),
        max_headers: 1 + usize::from(params[3] % 8),
        max_body_bytes: usize::from(params[0] >> 1),
        max_requests: 1 + u32::from(params[3] >> 3),
        ..Limits::default()
    }
}

/// A request that must never run behind a closed connection.
pub const SENTINEL: &[u8] = b"POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 8\r\n\r\nSMUGGLED";

/// Every property the framing target checks, on one input; panics with a
/// description on the first that fails.
pub fn check(limits: Limits, input: &[u8]) {
    let whole = feed(limits, input, &[]);
    let n = input.len();
    let describe = |what: &str, cuts: &[usize], got: &Verdict| {
        format!(
            "{what} (cuts {cuts:?}) differs from whole: input {:?}\nwhole {:?}\nsplit {:?}",
            String::from_utf8_lossy(input),
            summary(&whole),
            summary(got)
        )
    };
    let bytewise: Vec<usize> = (1..n).collect();
    let got = feed(limits, input, &bytewise);
    assert!(got == whole, "{}", describe("a byte per read", &[], &got));
    // One cut at each offset of short inputs, at a few offsets of long ones
    // (the byte-per-read feed above already has a boundary at each offset).
    let mut rng = Rng::from_bytes(input);
    let singles: Vec<usize> = if n <= 48 {
        (1..n).collect()
    } else {
        (0..8).map(|_| 1 + rng.below(n - 1)).collect()
    };
    for cut in singles {
        let got = feed(limits, input, &[cut]);
        assert!(got == whole, "{}", describe("one cut", &[cut], &got));
    }
    for _ in 0..2 {
        let mut cuts: Vec<usize> = (0..1 + rng.below(6)).map(|_| rng.below(n + 1)).collect();
        cuts.sort_unstable();
        let got = feed(limits, input, &cuts);
        assert!(got == whole, "{}", describe("random cuts", &cuts, &got));
    }
    // Whatever follows a close, refused or not, is never run.
    if whole.closed {
        let mut more = input.to_vec();
        more.extend_from_slice(SENTINEL);
        let behind = feed(limits, &more, &[]);
        assert!(
            behind.output == whole.output && behind.closed,
            "a request behind a close ran: input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

fn summary(v: &Verdict) -> String {
    format!(
        "closed={} consumed={:?} output={:?}",
        v.closed,
        v.consumed,
        String::from_utf8_lossy(&v.output)
    )
}

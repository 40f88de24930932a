//! Reading one request head across reads, in linear time, with a verdict
//! that depends on the bytes only, never on where the reads split them.
//!
//! [`HeadScan`] resumes where the last read stopped and reports each line
//! as it completes; each line is checked once, alone (httparse on the
//! request line, then on each header line), so garbage is refused as soon
//! as its line ends. httparse reads the whole head once its empty line is
//! found. A head that arrives whole skips the line checks: httparse
//! alone, when the limits plainly hold.
//!
//! Every verdict falls due at a fixed position in the byte stream and is
//! taken on the bytes before it: the end of a line (400 if httparse
//! rejects it, 431 for a header beyond `max_headers`), byte
//! `max_uri_bytes + 33` with no end to the request line yet (414), the end
//! of the head, byte `max_header_bytes` with no end to the head yet (431).
//! At a limit, httparse rejecting the bytes before it earns 400 instead.
//! The first position reached decides, however the reads cut the bytes.

use std::mem::MaybeUninit;

use super::head::{self, Head};
use super::head_scan::{Found, HeadScan, request_line_start};
use super::response::Refusal;
use crate::proto::Limits;

/// Header slots offered to httparse; `Limits::max_headers` may lower it.
const HEADER_SLOTS: usize = 128;

/// What a request line may have beyond its target: method, two spaces,
/// `HTTP/1.1`, CRLF.
const REQUEST_LINE_EXTRA: usize = 32;

/// httparse's reading of some bytes, judged.
enum Parsed {
    /// A complete head of this length, and what it means.
    Complete(Result<Head, Refusal>, usize),
    Partial,
    Malformed(Refusal),
}

fn parse(buf: &[u8], limits: &Limits) -> Parsed {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
    let slots = &mut slots[..limits.max_headers.clamp(1, HEADER_SLOTS)];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(n)) => Parsed::Complete(head::analyze(&req, limits), n),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Malformed(Refusal::HeaderTooLarge),
        Err(_) => Parsed::Malformed(Refusal::BadRequest),
    }
}

/// The refusal a limit earns at `buf`'s end, unless httparse finds the
/// bytes before it malformed.
fn limit_reached(buf: &[u8], limits: &Limits, why: Refusal) -> Refusal {
    match parse(buf, limits) {
        Parsed::Malformed(bad) => bad,
        _ => why,
    }
}

/// A line of the head, checked alone: the request line (`buf` from the
/// start of the request through the line's LF), or header line number
/// `index` (from 1). httparse rejects a line in context exactly when it
/// rejects it alone; a header beyond the slots is refused only once its
/// line has been read, as httparse does.
fn check_line(line: &[u8], index: u32, limits: &Limits) -> Result<(), Refusal> {
    let verdict = if index == 0 {
        httparse::Request::new(&mut []).parse(line).map(|_| ())
    } else {
        let mut slot = [httparse::EMPTY_HEADER; 1];
        httparse::parse_headers(line, &mut slot).map(|_| ())
    };
    match verdict {
        Err(_) => Err(Refusal::BadRequest),
        Ok(()) if index as usize > limits.max_headers.clamp(1, HEADER_SLOTS) => {
            Err(Refusal::HeaderTooLarge)
        }
        Ok(()) => Ok(()),
    }
}

/// One request head being read; a fresh one for each request.
#[derive(Clone, Copy, Debug)]
pub(super) struct HeadReader {
    scan: HeadScan,
    /// Lines read so far: the request line, then headers.
    lines: u32,
    /// Where the request line ends (its LF), once read.
    request_line_end: Option<usize>,
}

impl HeadReader {
    /// A reader at the first byte of a request.
    pub const fn new() -> HeadReader {
        HeadReader {
            scan: HeadScan::new(),
            lines: 0,
            request_line_end: None,
        }
    }

    /// Reads on: `Ok(Some((head, length)))` once the head is complete,
    /// `Ok(None)` while more bytes are needed. `buf` starts at the request
    /// and holds at least the bytes seen before.
    pub fn read(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<(Head, usize)>, Refusal> {
        let head_max = limits.max_header_bytes;
        let line_max = limits.max_uri_bytes.saturating_add(REQUEST_LINE_EXTRA);
        if self.scan.scanned() == 0
            && let Parsed::Complete(judged, n) = parse(buf, limits)
        {
            // The request line's LF, not that of an empty line before it.
            let from = request_line_start(buf).min(n);
            let line_fits = buf[from..n.min(line_max.saturating_add(1)).max(from)].contains(&b'\n');
            if n <= head_max && line_fits {
                return judged.map(|h| Some((h, n)));
            }
        }
        loop {
            let found = self.scan.advance(buf, head_max);
            let line_end = match found {
                Found::Line { lf, .. } if self.lines == 0 => Some(lf),
                _ => self.request_line_end,
            };
            // 414 falls due at byte line_max + 1 when no LF came before.
            let line_too_long = line_max < head_max
                && self.scan.scanned() > line_max
                && line_end.is_none_or(|lf| lf > line_max);
            if line_too_long {
                return Err(limit_reached(
                    &buf[..=line_max],
                    limits,
                    Refusal::UriTooLong,
                ));
            }
            match found {
                Found::Line { start, lf } => {
                    let line = if self.lines == 0 {
                        &buf[..=lf]
                    } else {
                        &buf[start..=lf]
                    };
                    check_line(line, self.lines, limits)?;
                    if self.lines == 0 {
                        self.request_line_end = Some(lf);
                    }
                    self.lines += 1;
                }
                Found::End(end) => {
                    return match parse(&buf[..end], limits) {
                        Parsed::Complete(judged, n) => judged.map(|h| Some((h, n))),
                        Parsed::Partial => Err(Refusal::BadRequest),
                        Parsed::Malformed(why) => Err(why),
                    };
                }
                Found::More if self.scan.scanned() >= head_max => {
                    return Err(limit_reached(
                        &buf[..head_max],
                        limits,
                        Refusal::HeaderTooLarge,
                    ));
                }
                Found::More => return Ok(None),
            }
        }
    }

    /// Bytes of the input this reader has looked at.
    pub fn seen(&self) -> usize {
        self.scan.scanned()
    }
}

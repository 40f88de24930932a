//! Finding the end of a request head in input that arrives in pieces,
//! without looking at any byte twice: the scan resumes where the last read
//! left it, so a head trickled a byte at a time costs linear CPU.
//!
//! The head ends at its first empty line. Like httparse, which parses the
//! head once it is found, lines may end in CRLF or a bare LF, and empty
//! lines before the request line are skipped (RFC 9112 §2.2).

/// Where the scan stands, between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Before the request line, among empty lines.
    Leading,
    /// A CR among the leading empty lines.
    LeadingCr,
    /// Inside a line.
    InLine,
    /// Just after a line's LF: an LF or CRLF here ends the head.
    LineStart,
    /// A CR at the start of a line.
    LineStartCr,
}

/// Where the request line proper begins: after the empty lines (LF or
/// CRLF) that may come before it, as the scan and httparse skip them.
pub(super) fn request_line_start(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\n', ..]) => i += 1,
            Some([b'\r', b'\n', ..]) => i += 2,
            _ => return i,
        }
    }
}

/// What the scan found next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// A complete non-empty line, `start..=lf`: the request line (with the
    /// empty lines before it) first, then header lines.
    Line { start: usize, lf: usize },
    /// The head is complete: this many bytes, through its empty line.
    End(usize),
    /// The bytes in view hold nothing more.
    More,
}

/// The resumable scan of one request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HeadScan {
    /// Bytes of the input already looked at.
    scanned: usize,
    at: At,
    /// Where the line being scanned began.
    line_start: usize,
    /// Length of the head (through its empty line), once found.
    end: Option<usize>,
}

impl HeadScan {
    /// A scan from the first byte.
    pub const fn new() -> HeadScan {
        HeadScan {
            scanned: 0,
            at: At::Leading,
            line_start: 0,
            end: None,
        }
    }

    /// Scans `buf[..limit]` on from where the last call stopped, up to the
    /// next complete line or the end of the head. `buf` must start with
    /// the bytes scanned before.
    pub fn advance(&mut self, buf: &[u8], limit: usize) -> Found {
        if let Some(end) = self.end {
            return Found::End(end);
        }
        let stop = buf.len().min(limit);
        while self.scanned < stop {
            let i = self.scanned;
            self.scanned += 1;
            let b = buf[i];
            self.at = match (self.at, b) {
                (At::Leading | At::LeadingCr, b'\n') => At::Leading,
                (At::Leading, b'\r') => At::LeadingCr,
                // The request line includes the empty lines before it.
                (At::Leading | At::LeadingCr, _) => At::InLine,
                (At::LineStart | At::LineStartCr, b'\n') => {
                    self.end = Some(i + 1);
                    return Found::End(i + 1);
                }
                (At::LineStart, b'\r') => At::LineStartCr,
                (_, b'\n') => {
                    let start = self.line_start;
                    self.line_start = i + 1;
                    self.at = At::LineStart;
                    return Found::Line { start, lf: i };
                }
                (At::LineStart, _) | (At::LineStartCr, _) | (At::InLine, _) => At::InLine,
            };
        }
        Found::More
    }

    /// Bytes looked at so far.
    pub fn scanned(&self) -> usize {
        self.scanned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything found when `input` arrives in pieces of `step` bytes.
    fn found(input: &[u8], step: usize) -> Vec<Found> {
        let mut scan = HeadScan::new();
        let mut all = Vec::new();
        let mut n = 0;
        while n < input.len() {
            n = (n + step).min(input.len());
            loop {
                match scan.advance(&input[..n], usize::MAX) {
                    Found::More => break,
                    Found::End(e) => {
                        all.push(Found::End(e));
                        return all;
                    }
                    line => all.push(line),
                }
            }
        }
        all
    }

    #[test]
    fn ends_at_the_first_empty_line() {
        for (input, end) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT"[..], Some(27)),
            (b"GET / HTTP/1.1\nHost: a\n\nNEXT", Some(24)),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\n", Some(26)),
            (b"\r\n\nGET / HTTP/1.1\r\n\r\n", Some(21)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"\r\n\r\n\r\n", None),
        ] {
            let whole = found(input, input.len());
            assert_eq!(
                whole.last().copied().and_then(|f| match f {
                    Found::End(e) => Some(e),
                    _ => None,
                }),
                end,
                "{input:?}"
            );
            assert_eq!(found(input, 1), whole, "{input:?} a byte at a time");
        }
    }

    #[test]
    fn reports_each_line_and_stops_at_the_limit() {
        let input = b"\r\nGET /abc HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            found(input, 3),
            [
                Found::Line { start: 0, lf: 20 },
                Found::Line { start: 21, lf: 29 },
                Found::End(32),
            ]
        );
        let mut scan = HeadScan::new();
        assert_eq!(scan.advance(input, 10), Found::More);
        assert_eq!(scan.scanned(), 10);
    }
}

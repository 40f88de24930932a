//! The chunked transfer coding (RFC 9112 §7.1), decoded strictly: a
//! request whose framing is in any doubt is refused, never guessed at,
//! because a lenient parser is how requests get smuggled.

/// Longest chunk-size line or trailer line accepted.
const LINE_MAX: usize = 4096;
/// Most trailer bytes accepted.
const TRAILERS_MAX: usize = 8 * 1024;

/// What scanning a chunked body found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Chunks {
    /// The body ends `end` bytes in; it decodes to `len` bytes.
    Complete { end: usize, len: usize },
    /// More bytes are needed.
    Partial,
    /// Malformed framing → 400.
    Bad,
    /// The decoded body would exceed the limit → 413.
    TooLarge,
}

/// Finds the line starting at `pos`, searching on from `pos + *scanned`
/// (what earlier calls already looked at): returns the index of its LF, or
/// `Err(Chunks)` when incomplete or malformed. Lines must end in CRLF.
fn line_end(buf: &[u8], pos: usize, scanned: &mut usize) -> Result<usize, Chunks> {
    let window = &buf[pos..buf.len().min(pos + LINE_MAX)];
    let from = (*scanned).min(window.len());
    match window[from..].iter().position(|&b| b == b'\n') {
        Some(i) => {
            let i = from + i;
            *scanned = 0;
            if i > 0 && window[i - 1] == b'\r' {
                Ok(pos + i)
            } else {
                Err(Chunks::Bad)
            }
        }
        None if window.len() >= LINE_MAX => Err(Chunks::Bad),
        None => {
            *scanned = window.len();
            Err(Chunks::Partial)
        }
    }
}

/// Parses `chunk-size [ chunk-ext ]` (without the CRLF).
fn chunk_size(line: &[u8]) -> Option<usize> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    // 15 hex digits cannot overflow a u64; anything longer is hostile.
    if digits == 0 || digits > 15 {
        return None;
    }
    let mut size = 0usize;
    for &b in &line[..digits] {
        size = size * 16 + (b as char).to_digit(16)? as usize;
    }
    let ext = &line[digits..];
    let ext_start = ext.iter().position(|&b| b != b' ' && b != b'\t');
    match ext_start {
        None if ext.is_empty() => Some(size),
        // Whitespace, then an extension: `BWS ";" ...`.
        Some(i) if ext[i] == b';' => {
            let ok = ext[i..]
                .iter()
                .all(|&b| b == b'\t' || (b' '..0x7f).contains(&b));
            ok.then_some(size)
        }
        _ => None,
    }
}

/// Which part of the body comes next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Part {
    /// A chunk-size line.
    #[default]
    Size,
    /// `size` bytes of chunk data and their CRLF.
    Data { size: usize },
    /// Trailer lines, which began at `start`, up to the empty line.
    Trailers { start: usize },
}

/// A chunked body decoded as far as the input goes, resumed where it
/// stopped when more arrives: every byte is looked at once, however
/// small the pieces, so a body trickled in 1-byte chunks costs linear CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cursor {
    /// Where the next part starts, from the start of the body.
    pos: usize,
    /// Decoded length so far.
    len: usize,
    /// How much of the line at `pos` has been searched for its LF.
    scanned: usize,
    part: Part,
}

impl Cursor {
    /// Decodes on from where the last call stopped, handing each complete
    /// chunk's data to `sink` in order. `buf` is the body from its start
    /// (it must begin with the bytes seen before); `max` bounds the
    /// decoded length.
    pub fn advance(&mut self, buf: &[u8], max: usize, mut sink: impl FnMut(&[u8])) -> Chunks {
        loop {
            match self.part {
                Part::Size => {
                    let nl = match line_end(buf, self.pos, &mut self.scanned) {
                        Ok(nl) => nl,
                        Err(c) => return c,
                    };
                    let Some(size) = chunk_size(&buf[self.pos..nl - 1]) else {
                        return Chunks::Bad;
                    };
                    self.pos = nl + 1;
                    if size == 0 {
                        self.part = Part::Trailers { start: self.pos };
                        continue;
                    }
                    self.len = match self.len.checked_add(size) {
                        Some(l) if l <= max => l,
                        _ => return Chunks::TooLarge,
                    };
                    self.part = Part::Data { size };
                }
                Part::Data { size } => {
                    let Some(data_end) = self.pos.checked_add(size) else {
                        return Chunks::TooLarge;
                    };
                    if buf.len() < data_end + 2 {
                        return Chunks::Partial;
                    }
                    if &buf[data_end..data_end + 2] != b"\r\n" {
                        return Chunks::Bad;
                    }
                    sink(&buf[self.pos..data_end]);
                    self.pos = data_end + 2;
                    self.part = Part::Size;
                }
                Part::Trailers { start } => return self.trailers(buf, start),
            }
        }
    }

    /// The trailer section after the last chunk, up to its empty line.
    fn trailers(&mut self, buf: &[u8], start: usize) -> Chunks {
        loop {
            let nl = match line_end(buf, self.pos, &mut self.scanned) {
                Ok(nl) => nl,
                Err(c) => return c,
            };
            if nl == self.pos + 1 {
                return Chunks::Complete {
                    end: nl + 1,
                    len: self.len,
                };
            }
            // A trailer is a field line with the head's grammar (RFC 9112
            // §7.1.2): httparse judges it as it judges header lines, which
            // refuses folded lines (obs-fold), a missing colon, a name that
            // is not a token, control bytes in the value.
            let mut slot = [httparse::EMPTY_HEADER; 1];
            if httparse::parse_headers(&buf[self.pos..=nl], &mut slot).is_err() {
                return Chunks::Bad;
            }
            self.pos = nl + 1;
            if self.pos - start > TRAILERS_MAX {
                return Chunks::Bad;
            }
        }
    }
}

/// Decodes a whole chunked body at the start of `buf` in one go.
pub(super) fn scan(buf: &[u8], max: usize, sink: impl FnMut(&[u8])) -> Chunks {
    Cursor::default().advance(buf, max, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &[u8]) -> (Chunks, Vec<u8>) {
        let mut body = Vec::new();
        let c = scan(s, 1000, |d| body.extend_from_slice(d));
        (c, body)
    }

    #[test]
    fn decodes_chunks_with_extensions_and_trailers() {
        let msg = b"4;name=v\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (c, body) = decode(msg);
        assert_eq!(
            c,
            Chunks::Complete {
                end: msg.len() - 4,
                len: 9
            }
        );
        assert_eq!(body, b"Wikipedia");
    }

    #[test]
    fn partial_until_the_last_crlf() {
        let msg = b"3\r\nabc\r\n0\r\n\r\n";
        for cut in 0..msg.len() {
            assert_eq!(decode(&msg[..cut]).0, Chunks::Partial, "cut at {cut}");
        }
        assert!(matches!(decode(msg).0, Chunks::Complete { .. }));
    }

    #[test]
    fn refuses_bad_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"3\nabc\r\n",
            b"3\r\nabcd\r\n",
            b"-1\r\n",
            b"1234567890abcdef0\r\n",
            b"3\x01\r\n",
            b"0\r\n folded\r\n\r\n",
            b"0\r\nnocolon\r\n\r\n",
            b"0\r\n,-T: 1\r\n\r\n",
            b"0\r\nX : 1\r\n\r\n",
            b"0\r\nX: a\x7fb\r\n\r\n",
        ] {
            assert_eq!(
                decode(bad).0,
                Chunks::Bad,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(decode(b"3e9\r\n").0, Chunks::TooLarge);
    }

    #[test]
    fn resumes_where_it_stopped() {
        let msg = b"4;name=v\r\nWiki\r\n5 ; x\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
        let mut cursor = Cursor::default();
        let mut body = Vec::new();
        for n in 0..msg.len() {
            let c = cursor.advance(&msg[..n], 1000, |d| body.extend_from_slice(d));
            assert_eq!(c, Chunks::Partial, "cut at {n}");
        }
        let c = cursor.advance(msg, 1000, |d| body.extend_from_slice(d));
        assert_eq!(
            c,
            Chunks::Complete {
                end: msg.len(),
                len: 9
            }
        );
        assert_eq!(body, b"Wikipedia", "each chunk handed over once");
    }
}

//! The HTTP responses that come back on one pipelined connection: framed
//! one after another out of whatever pieces the socket delivers, and each
//! checked (status 200, a Content-Length body that is `Hello, World!`).
//!
//! Bytes are copied only when a response straddles two receives: a whole
//! response inside one buffer is parsed where it lies.

use super::exchange::{HTTP_BODY, Verdict};

/// Reply heads longer than this are wrong: ours and our peers' are ~130 B.
const MAX_HEAD: usize = 8 * 1024;

/// The framing state of one connection's responses.
#[derive(Default)]
pub struct Responses {
    /// The start of a response that did not arrive whole.
    partial: Vec<u8>,
    /// A wrong response came: nothing after it can be framed.
    broken: bool,
}

impl Responses {
    /// Frames the responses in `bytes`, calling `each` with the verdict of
    /// every complete one (never `Partial`). Stops at the first `Bad` one:
    /// what follows a wrong response cannot be framed, so every later byte
    /// is ignored (the connection is replaced).
    pub fn feed(&mut self, bytes: &[u8], mut each: impl FnMut(Verdict)) {
        if self.broken {
            return;
        }
        self.frame_all(bytes, &mut |v| {
            each(v);
            v != Verdict::Bad
        });
    }

    /// `feed`'s framing; `each` says whether to go on.
    fn frame_all(&mut self, mut bytes: &[u8], each: &mut dyn FnMut(Verdict) -> bool) {
        if !self.partial.is_empty() {
            // Append only as much as the straddling response needs, so the
            // rest is framed in place.
            self.partial.extend_from_slice(bytes);
            match frame(&self.partial) {
                Frame::Incomplete if self.partial.len() <= MAX_HEAD + HTTP_BODY.len() => return,
                Frame::Incomplete | Frame::Bad => return self.fail(each),
                Frame::Whole(len, verdict) => {
                    let from_bytes = len - (self.partial.len() - bytes.len());
                    self.partial.clear();
                    bytes = &bytes[from_bytes..];
                    if !each(verdict) {
                        self.broken = true;
                        return;
                    }
                }
            }
        }
        while !bytes.is_empty() {
            match frame(bytes) {
                Frame::Incomplete if bytes.len() <= MAX_HEAD + HTTP_BODY.len() => {
                    return self.partial.extend_from_slice(bytes);
                }
                Frame::Incomplete | Frame::Bad => return self.fail(each),
                Frame::Whole(len, verdict) => {
                    if !each(verdict) {
                        self.broken = true;
                        return;
                    }
                    bytes = &bytes[len..];
                }
            }
        }
    }

    fn fail(&mut self, each: &mut dyn FnMut(Verdict) -> bool) {
        self.partial.clear();
        self.broken = true;
        each(Verdict::Bad);
    }
}

enum Frame {
    Incomplete,
    Bad,
    /// A whole response of this many bytes, and how it turned out.
    Whole(usize, Verdict),
}

/// Frames the response at the start of `buf`.
fn frame(buf: &[u8]) -> Frame {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Frame::Incomplete,
        Err(_) => return Frame::Bad,
    };
    let mut length = None;
    let mut closing = false;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("connection") {
            closing = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    let Some(length) = length else {
        return Frame::Bad;
    };
    if buf.len() < head + length {
        return Frame::Incomplete;
    }
    let verdict = if response.code == Some(200) && &buf[head..head + length] == HTTP_BODY {
        if closing {
            Verdict::GoodThenClose
        } else {
            Verdict::Good
        }
    } else {
        Verdict::Bad
    };
    Frame::Whole(head + length, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: x\r\n\r\nHello, World!";

    fn verdicts(pieces: &[&[u8]]) -> Vec<Verdict> {
        let mut r = Responses::default();
        let mut out = Vec::new();
        for p in pieces {
            r.feed(p, |v| out.push(v));
        }
        out
    }

    #[test]
    fn pipelined_responses_are_framed_at_every_split() {
        let three: Vec<u8> = [OK, OK, OK].concat();
        for cut in 0..=three.len() {
            let (a, b) = three.split_at(cut);
            assert_eq!(verdicts(&[a, b]), vec![Verdict::Good; 3], "split at {cut}");
        }
        let bytes: Vec<&[u8]> = three.chunks(1).collect();
        assert_eq!(verdicts(&bytes), vec![Verdict::Good; 3], "a byte at a time");
    }

    #[test]
    fn wrong_status_body_or_framing_is_bad_and_stops_framing() {
        let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(verdicts(&[not_found, OK]), vec![Verdict::Bad]);
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";
        assert_eq!(
            verdicts(&[OK, wrong, OK]),
            vec![Verdict::Good, Verdict::Bad]
        );
        let unframed = b"HTTP/1.1 200 OK\r\n\r\nHello, World!";
        assert_eq!(verdicts(&[unframed]), vec![Verdict::Bad]);
        assert_eq!(verdicts(&[b"garbage\r\n\r\n"]), vec![Verdict::Bad]);
        let endless_head = vec![b'a'; MAX_HEAD * 2];
        assert_eq!(
            verdicts(&[b"HTTP/1.1 200 OK\r\nX: ", &endless_head]),
            vec![Verdict::Bad]
        );
    }

    #[test]
    fn connection_close_is_reported() {
        let closing =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(
            verdicts(&[OK, closing]),
            vec![Verdict::Good, Verdict::GoodThenClose]
        );
    }
}

//! One request/response exchange: building the request, and checking the
//! reply as it arrives (echo byte for byte, HTTP status and body).

use crate::proto::Proto;

/// The HTTP request every active connection sends (TechEmpower plaintext).
pub(super) const HTTP_REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: iomux\r\n\r\n";
/// The body `GET /plaintext` must return.
pub(super) const HTTP_BODY: &[u8] = b"Hello, World!";

/// Fills `buf` with echo request number `seq` of connection `conn`: bytes
/// that differ per connection and per request, so that a reply sent to
/// the wrong connection, or a stale one, is caught.
pub(super) fn echo_payload(buf: &mut [u8], conn: usize, seq: u64) {
    let mut x = ((conn as u64) << 32 ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in buf.chunks_mut(8) {
        // xorshift64: cheap bytes that are not all alike.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
}

/// How a reply turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// More bytes are needed.
    Partial,
    /// The whole reply arrived and is right.
    Good,
    /// The whole reply arrived, is right, and the server will close the
    /// connection after it (HTTP `Connection: close`, e.g. at its
    /// requests-per-connection limit).
    GoodThenClose,
    /// The whole reply arrived and is wrong (bytes, status or body), or it
    /// cannot be parsed.
    Bad,
}

/// The request in flight on one connection and what has come back so far.
pub struct Exchange {
    proto: Proto,
    /// The request bytes (for echo, also the expected reply).
    pub request: Vec<u8>,
    /// Bytes of `request` already written.
    pub sent: usize,
    /// Echo: bytes of the reply matched so far. HTTP: unused.
    matched: usize,
    /// Echo: a byte differed. HTTP: unused.
    mismatch: bool,
    /// HTTP: the reply bytes so far.
    reply: Vec<u8>,
}

impl Exchange {
    /// An exchange for `proto` with `size`-byte echo payloads.
    pub fn new(proto: Proto, size: usize) -> Exchange {
        let request = match proto {
            Proto::Echo => vec![0; size.max(1)],
            Proto::Http => HTTP_REQUEST.to_vec(),
        };
        Exchange {
            proto,
            request,
            sent: 0,
            matched: 0,
            mismatch: false,
            reply: Vec::new(),
        }
    }

    /// Prepares request number `seq` of connection `conn`. Echo payloads
    /// differ per connection and per request, so a reply sent to the wrong
    /// connection, or a stale one, is caught.
    pub fn start(&mut self, conn: usize, seq: u64) {
        self.sent = 0;
        self.matched = 0;
        self.mismatch = false;
        self.reply.clear();
        if self.proto == Proto::Echo {
            echo_payload(&mut self.request, conn, seq);
        }
    }

    /// The unsent part of the request.
    pub fn unsent(&self) -> &[u8] {
        &self.request[self.sent..]
    }

    /// Takes reply bytes; says whether the reply is complete and right.
    pub fn receive(&mut self, bytes: &[u8]) -> Verdict {
        match self.proto {
            Proto::Echo => self.receive_echo(bytes),
            Proto::Http => self.receive_http(bytes),
        }
    }

    fn receive_echo(&mut self, bytes: &[u8]) -> Verdict {
        let want = &self.request[self.matched..];
        if bytes.len() > want.len() || bytes != &want[..bytes.len()] {
            self.mismatch = true;
        }
        self.matched = (self.matched + bytes.len()).min(self.request.len());
        if self.mismatch {
            Verdict::Bad
        } else if self.matched == self.request.len() {
            Verdict::Good
        } else {
            Verdict::Partial
        }
    }

    fn receive_http(&mut self, bytes: &[u8]) -> Verdict {
        self.reply.extend_from_slice(bytes);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(&self.reply) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Verdict::Partial,
            Err(_) => return Verdict::Bad,
        };
        let length = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            });
        let Some(length) = length else {
            return Verdict::Bad;
        };
        let status = response.code;
        let closing = response.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        });
        match self.reply.len().cmp(&(head + length)) {
            std::cmp::Ordering::Less => Verdict::Partial,
            std::cmp::Ordering::Greater => Verdict::Bad,
            std::cmp::Ordering::Equal
                if status == Some(200) && &self.reply[head..] == HTTP_BODY =>
            {
                if closing {
                    Verdict::GoodThenClose
                } else {
                    Verdict::Good
                }
            }
            std::cmp::Ordering::Equal => Verdict::Bad,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_reply_is_checked_byte_for_byte() {
        let mut ex = Exchange::new(Proto::Echo, 100);
        ex.start(3, 9);
        let good = ex.request.clone();
        assert_eq!(ex.receive(&good[..40]), Verdict::Partial);
        assert_eq!(ex.receive(&good[40..]), Verdict::Good);
        ex.start(3, 10);
        assert_ne!(ex.request, good, "payloads differ per request");
        let mut bad = ex.request.clone();
        bad[77] ^= 1;
        assert_eq!(ex.receive(&bad), Verdict::Bad);
    }

    #[test]
    fn http_reply_needs_status_200_and_the_body() {
        let mut ex = Exchange::new(Proto::Http, 0);
        ex.start(0, 0);
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
        assert_eq!(ex.receive(&ok[..20]), Verdict::Partial);
        assert_eq!(ex.receive(&ok[20..]), Verdict::Good);
        ex.start(0, 1);
        assert_eq!(
            ex.receive(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            Verdict::Bad
        );
    }
}

//! HTTP/1.1 server side: httparse reads the head; framing, limits and
//! answers are ours.
//!
//! Every complete request in the input is answered in one `on_data` call,
//! so pipelined answers leave in one write. A refused request gets its
//! status and `Connection: close`; whatever follows it in the input is
//! dropped unparsed, so a request smuggled behind bad framing never runs.
//!
//! The fuzz crate (`fuzz/`) compiles this module by path: it may use only
//! `crate::proto::Limits`, iomux and httparse from outside itself.

mod chunked;
mod head;
mod head_reader;
mod head_scan;
mod response;

use std::time::Instant;

use iomux::conn::{Action, Handler};

use self::chunked::Chunks;
use self::head::{Body, Head, Route};
use self::head_reader::HeadReader;
use self::response::{Conn, Refusal};
use super::Limits;

/// What the front of the input holds.
enum Step {
    /// A request of this many bytes was answered; keep going or not.
    Answered(usize, bool),
    /// Not a whole request yet.
    Partial,
    /// Refused; the answer is written, the connection closes.
    Refused,
}

/// How far the request at the front of the input has been read. Kept
/// between reads, so that more bytes resume the parse instead of
/// restarting it: a request trickled in costs linear CPU.
#[derive(Clone, Copy, Debug)]
enum Progress {
    /// Reading the head.
    Head(HeadReader),
    /// The head (`len` bytes) is read; reading the body.
    Body {
        head: Head,
        len: usize,
        chunks: chunked::Cursor,
    },
}

impl Progress {
    /// Bytes of the request already looked at.
    fn seen(&self) -> usize {
        match self {
            Progress::Head(reader) => reader.seen(),
            Progress::Body { len, .. } => *len,
        }
    }
}

const FRESH: Progress = Progress::Head(HeadReader::new());

/// One HTTP connection's state: the limits, the count of requests served,
/// the timeouts, and how far the current request has been read.
#[derive(Debug)]
pub struct Http {
    limits: Limits,
    served: u32,
    progress: Progress,
    /// When the incomplete request at the front of the input was first seen.
    partial_since: Option<Instant>,
    continue_sent: bool,
    deadline: Instant,
}

impl Http {
    /// A new connection: the first request must arrive within the header
    /// timeout.
    pub fn new(limits: Limits) -> Http {
        Http {
            limits,
            served: 0,
            progress: FRESH,
            partial_since: None,
            continue_sent: false,
            deadline: iomux::time::now() + limits.header_timeout,
        }
    }

    fn step(&mut self, buf: &[u8], out: &mut Vec<u8>) -> Step {
        if buf.len() < self.progress.seen() {
            // Not the input seen before (the connection must keep what was
            // not consumed): read it afresh rather than trust stale state.
            self.progress = FRESH;
        }
        let (head, head_len, mut chunks) = match self.progress {
            Progress::Body { head, len, chunks } => (head, len, chunks),
            Progress::Head(mut reader) => {
                let read = reader.read(buf, &self.limits);
                self.progress = Progress::Head(reader);
                match read {
                    Ok(Some((head, len))) => (head, len, chunked::Cursor::default()),
                    Ok(None) => return Step::Partial,
                    Err(why) => return refuse(out, why),
                }
            }
        };
        let rest = &buf[head_len..];
        let step = match head.body {
            Body::None => self.answer(&head, head_len, &[][..], out),
            Body::Length(n) if rest.len() >= n => self.answer(&head, head_len + n, &rest[..n], out),
            Body::Length(_) => self.wait_body(&head, out),
            Body::Chunked => match chunks.advance(rest, self.limits.max_body_bytes, |_| {}) {
                Chunks::Complete { end, len } => {
                    self.answer_chunked(&head, head_len + end, &rest[..end], len, out)
                }
                Chunks::Partial => self.wait_body(&head, out),
                Chunks::Bad => refuse(out, Refusal::BadRequest),
                Chunks::TooLarge => refuse(out, Refusal::PayloadTooLarge),
            },
        };
        self.progress = match step {
            Step::Partial => Progress::Body {
                head,
                len: head_len,
                chunks,
            },
            _ => FRESH,
        };
        step
    }

    fn wait_body(&mut self, head: &Head, out: &mut Vec<u8>) -> Step {
        if head.expects_continue && !head.http10 && !self.continue_sent {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.continue_sent = true;
        }
        Step::Partial
    }

    fn conn(&self, head: &Head) -> (Conn, bool) {
        let keep = head.keep_alive && self.served + 1 < self.limits.max_requests;
        let conn = match (keep, head.http10) {
            (false, _) => Conn::Close,
            (true, true) => Conn::KeepAlive,
            (true, false) => Conn::Persistent,
        };
        (conn, keep)
    }

    fn answer(&mut self, head: &Head, len: usize, body: &[u8], out: &mut Vec<u8>) -> Step {
        let (conn, keep) = self.conn(head);
        let with_body = !head.head_only;
        match head.route {
            Route::Plaintext => response::plaintext(out, conn, with_body),
            Route::Echo => {
                response::head(
                    out,
                    "200 OK",
                    "application/octet-stream",
                    body.len(),
                    conn,
                    "",
                );
                out.extend_from_slice(body);
            }
            Route::NotFound => response::text(out, "404 Not Found", conn, "", with_body),
            Route::WrongMethod(allow) => {
                response::text(out, "405 Method Not Allowed", conn, allow, with_body)
            }
        }
        Step::Answered(len, keep)
    }

    fn answer_chunked(
        &mut self,
        head: &Head,
        len: usize,
        framed: &[u8],
        body_len: usize,
        out: &mut Vec<u8>,
    ) -> Step {
        if head.route != Route::Echo {
            return self.answer(head, len, &[][..], out);
        }
        let (conn, keep) = self.conn(head);
        response::head(
            out,
            "200 OK",
            "application/octet-stream",
            body_len,
            conn,
            "",
        );
        chunked::scan(framed, usize::MAX, |d| out.extend_from_slice(d));
        Step::Answered(len, keep)
    }
}

fn refuse(out: &mut Vec<u8>, why: Refusal) -> Step {
    response::refuse(out, why);
    Step::Refused
}

impl Handler for Http {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        let mut pos = 0;
        let mut action = Action::Continue;
        while pos < input.len() {
            match self.step(&input[pos..], output) {
                Step::Answered(n, keep) => {
                    pos += n;
                    self.served += 1;
                    self.partial_since = None;
                    self.continue_sent = false;
                    if !keep {
                        action = Action::Close;
                        break;
                    }
                }
                Step::Partial => break,
                Step::Refused => {
                    action = Action::Close;
                    pos = input.len();
                    break;
                }
            }
        }
        let now = iomux::time::now();
        self.deadline = if action == Action::Continue && pos < input.len() {
            *self.partial_since.get_or_insert(now) + self.limits.header_timeout
        } else {
            now + self.limits.keepalive_timeout
        };
        (pos, action)
    }

    fn deadline(&self) -> Option<Instant> {
        Some(self.deadline)
    }

    fn on_drained(&mut self) {
        // A long answer has finally left: the idle time starts now.
        if self.partial_since.is_none() {
            self.deadline = iomux::time::now() + self.limits.keepalive_timeout;
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod split_tests;

#[cfg(test)]
mod trickle_tests;

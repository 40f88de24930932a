//! What a parsed request head means: framing, persistence, route — or the
//! refusal it earns. The rules are RFC 9112's, read strictly wherever a
//! lenient reading could let two parties disagree on where a request ends.

use super::response::Refusal;
use crate::proto::Limits;

/// How the body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    None,
    Length(usize),
    Chunked,
}

/// Which resource answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Plaintext,
    Echo,
    NotFound,
    /// The path exists; the method does not. Holds the Allow line.
    WrongMethod(&'static str),
}

/// A head worth answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub body: Body,
    pub route: Route,
    /// HTTP/1.0 (else 1.1).
    pub http10: bool,
    /// The client allows the connection to stay open.
    pub keep_alive: bool,
    /// HEAD: same head, no body.
    pub head_only: bool,
    /// `Expect: 100-continue`.
    pub expects_continue: bool,
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// The comma-separated elements of a list-valued field, trimmed, empty
/// elements skipped (RFC 9110 §5.6.1).
fn elements(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

/// A Content-Length value, `1*DIGIT` (RFC 9110 §8.6): leading zeros are
/// allowed, and a number too large for a u64 saturates, since it is above
/// any body limit (413, not 400: the framing is valid, the body too big).
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The path part of an origin-form or absolute-form target, without query.
fn path_of(target: &str) -> Option<&str> {
    let path = if target.starts_with('/') {
        target
    } else if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if target == "*" {
        "*"
    } else {
        return None;
    };
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// Judges a complete head.
pub(super) fn analyze(req: &httparse::Request<'_, '_>, limits: &Limits) -> Result<Head, Refusal> {
    let target = req.path.unwrap_or("");
    if target.len() > limits.max_uri_bytes {
        return Err(Refusal::UriTooLong);
    }
    let http10 = req.version == Some(0);
    let method = req.method.unwrap_or("");
    let mut hosts = 0;
    let mut length: Option<u64> = None;
    let mut bad_length = false;
    let mut te_seen = false;
    let mut chunked_last = false;
    let mut chunked_twice = false;
    let mut unsupported = false;
    let mut close = false;
    let mut keep_alive = false;
    let mut expects_continue = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let mut any = false;
            for e in elements(h.value) {
                any = true;
                match (parse_length(e), length) {
                    (None, _) => bad_length = true,
                    (Some(n), Some(prev)) if n != prev => bad_length = true,
                    (Some(n), _) => length = Some(n),
                }
            }
            bad_length |= !any;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te_seen = true;
            for coding in elements(h.value) {
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked_twice |= chunked_last;
                    chunked_last = true;
                } else {
                    unsupported = true;
                    chunked_last = false;
                }
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in elements(h.value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expects_continue = trim(h.value).eq_ignore_ascii_case(b"100-continue");
        }
    }
    // RFC 9112 §3.2: exactly one Host in 1.1, never two.
    if hosts > 1 || (!http10 && hosts != 1) {
        return Err(Refusal::BadRequest);
    }
    // §6.1, §6.3: Transfer-Encoding with Content-Length, in 1.0, or without
    // chunked as the final coding leaves the length in doubt.
    if te_seen && (length.is_some() || bad_length || http10) {
        return Err(Refusal::BadRequest);
    }
    if unsupported {
        return Err(Refusal::NotImplemented);
    }
    if te_seen && (!chunked_last || chunked_twice) {
        return Err(Refusal::BadRequest);
    }
    if bad_length {
        return Err(Refusal::BadRequest);
    }
    let body = match (te_seen, length) {
        (true, _) => Body::Chunked,
        (false, Some(n)) if n > limits.max_body_bytes as u64 => {
            return Err(Refusal::PayloadTooLarge);
        }
        (false, Some(0)) | (false, None) => Body::None,
        (false, Some(n)) => Body::Length(n as usize),
    };
    let path = path_of(target).ok_or(Refusal::BadRequest)?;
    let route = match (method, path) {
        ("GET" | "HEAD", "/plaintext") => Route::Plaintext,
        (_, "/plaintext") => Route::WrongMethod("Allow: GET, HEAD\r\n"),
        ("POST", "/echo") => Route::Echo,
        (_, "/echo") => Route::WrongMethod("Allow: POST\r\n"),
        _ => Route::NotFound,
    };
    Ok(Head {
        body,
        route,
        http10,
        keep_alive: if http10 { keep_alive && !close } else { !close },
        head_only: method == "HEAD",
        expects_continue,
    })
}

//! Requests that arrive a byte at a time: answered as if they had come
//! whole, and refused at the same point, with the state kept between reads.

use super::*;

/// Feeds `input` one byte per read, as a connection would (keeping what
/// the handler left); returns the output and whether it closed.
fn trickle(limits: Limits, input: &[u8]) -> (Vec<u8>, Action) {
    let mut h = Http::new(limits);
    let (mut out, mut pending) = (Vec::new(), Vec::new());
    for &b in input {
        pending.push(b);
        let (used, action) = h.on_data(&pending, &mut out);
        pending.drain(..used);
        if action == Action::Close {
            return (out, action);
        }
    }
    (out, Action::Continue)
}

fn whole(limits: Limits, input: &[u8]) -> (Vec<u8>, Action) {
    let mut out = Vec::new();
    let (_, action) = Http::new(limits).on_data(input, &mut out);
    (out, action)
}

/// The status of the first answer, or "none".
fn status(out: &[u8]) -> &str {
    out.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .unwrap_or("none")
}

fn big() -> Limits {
    Limits {
        max_header_bytes: 80 * 1024,
        max_body_bytes: 2 * 64 * 1024,
        ..Limits::default()
    }
}

#[test]
fn trickled_chunked_body_is_echoed() {
    let mut input =
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let body: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    for &b in &body {
        input.extend_from_slice(b"1\r\n");
        input.push(b);
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(b"0\r\n\r\n");
    let (out, action) = trickle(big(), &input);
    assert_eq!(action, Action::Continue);
    assert_eq!(status(&out), "200");
    assert!(out.ends_with(&body), "the body echoed whole, in order");
}

#[test]
fn trickled_long_head_is_answered() {
    let input = format!(
        "GET /plaintext HTTP/1.1\r\nHost: a\r\n{}\r\n",
        format!("X-Pad: {}\r\n", "p".repeat(1000)).repeat(64)
    );
    assert!(input.len() > 60 * 1024);
    let (out, action) = trickle(big(), input.as_bytes());
    assert_eq!((status(&out), action), ("200", Action::Continue));
    assert!(out.ends_with(b"Hello, World!"));
}

#[test]
fn a_bad_line_is_refused_when_it_ends() {
    let input = b"GET /plaintext HTTP/1.1\r\nHost: a\r\nBad Header\r\n";
    let (out, action) = trickle(Limits::default(), input);
    assert_eq!((status(&out), action), ("400", Action::Close));
    let (out, action) = trickle(Limits::default(), b"GET\x01/ HTTP/1.1\r\n");
    assert_eq!((status(&out), action), ("400", Action::Close));
}

/// The verdict on a head that outgrows its limit depends on the bytes
/// before the limit only: whole or trickled, the same status.
#[test]
fn refusals_at_the_limits_do_not_depend_on_reads() {
    let limits = Limits {
        max_header_bytes: 64,
        max_uri_bytes: 16,
        max_headers: 2,
        ..Limits::default()
    };
    let cases: [(&[u8], &str); 7] = [
        // Past the head limit, then garbage: the limit came first.
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01\r\n\r\n", "431"),
        // Garbage before the limit.
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: aaaa\x01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "400"),
        // A request line longer than the URI allows, then garbage.
        (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x01 HTTP/1.1\r\n\r\n", "414"),
        (b"GET /aa\x01aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", "400"),
        // A third header beyond two slots, malformed or not.
        (b"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC: d\r\n\r\n", "431"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nC d\r\n\r\n", "400"),
        // An empty line before a request line that is too long (a long
        // method, a short target): the LF that counts is the request
        // line's, not the empty line's (found by http_framing).
        (b"\r\nGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGGG / HTTP/1.1\r\nHost: a\r\n\r\n", "414"),
    ];
    for (input, want) in cases {
        let text = String::from_utf8_lossy(input);
        let (out, action) = whole(limits, input);
        assert_eq!(
            (status(&out), action),
            (want, Action::Close),
            "whole: {text:?}"
        );
        let (out, action) = trickle(limits, input);
        assert_eq!(
            (status(&out), action),
            (want, Action::Close),
            "trickled: {text:?}"
        );
    }
}

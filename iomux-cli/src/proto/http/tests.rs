//! Unit tests of the HTTP handler: bytes in, bytes out, no sockets.

use super::*;

fn run(input: &[u8]) -> (String, usize, Action) {
    let mut h = Http::new(Limits::default());
    let mut out = Vec::new();
    let (used, action) = h.on_data(input, &mut out);
    (String::from_utf8_lossy(&out).into_owned(), used, action)
}

fn statuses(out: &str) -> Vec<u16> {
    out.match_indices("HTTP/1.1 ")
        .map(|(i, _)| out[i + 9..i + 12].parse().unwrap())
        .collect()
}

const GET: &str = "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn plaintext_and_pipelining() {
    let input = GET.repeat(16);
    let (out, used, action) = run(input.as_bytes());
    assert_eq!(used, input.len());
    assert_eq!(action, Action::Continue);
    assert_eq!(statuses(&out), vec![200; 16]);
    assert_eq!(out.matches("\r\n\r\nHello, World!").count(), 16);
    assert!(out.contains("Content-Type: text/plain\r\n"));
}

#[test]
fn partial_request_is_left_in_the_input() {
    let input = format!("{GET}GET /plaintext HTTP/1.1\r\nHo");
    let (out, used, action) = run(input.as_bytes());
    assert_eq!((used, action), (GET.len(), Action::Continue));
    assert_eq!(statuses(&out), vec![200]);
}

#[test]
fn echo_content_length_and_chunked() {
    let (out, _, _) = run(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    assert!(out.ends_with("Content-Length: 5\r\n\r\nhello"), "{out}");
    let (out, _, _) = run(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert!(out.ends_with("Content-Length: 5\r\n\r\nabcde"), "{out}");
}

#[test]
fn connection_close_and_http10() {
    let input = "GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
    let (out, _, action) = run(input.as_bytes());
    assert_eq!(statuses(&out), vec![200]);
    assert!(out.contains("Connection: close"));
    assert_eq!(action, Action::Close);
    let (out, _, action) = run(b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!((statuses(&out), action), (vec![200], Action::Close));
    let (out, _, action) = run(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!((statuses(&out), action), (vec![200], Action::Continue));
    assert!(out.contains("Connection: keep-alive"));
}

#[test]
fn not_found_and_wrong_method() {
    let (out, _, action) = run(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((statuses(&out), action), (vec![404], Action::Continue));
    let (out, _, _) = run(b"DELETE /plaintext HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(statuses(&out), vec![405]);
}

#[test]
fn refusals() {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let many = format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
        "X: y\r\n".repeat(101)
    );
    let cases: Vec<(&[u8], u16)> = vec![
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 413),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
        (long_uri.as_bytes(), 414),
        (big_head.as_bytes(), 431),
        (many.as_bytes(), 431),
    ];
    for (input, want) in cases {
        let (out, _, action) = run(input);
        assert_eq!(
            statuses(&out),
            vec![want],
            "{}",
            String::from_utf8_lossy(&input[..input.len().min(120)])
        );
        assert_eq!(action, Action::Close);
        assert!(out.contains("Connection: close"));
    }
}

#[test]
fn content_length_may_have_leading_zeros() {
    let (out, _, action) = run(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000000005\r\n\r\nhello",
    );
    assert_eq!(statuses(&out), vec![200]);
    assert!(out.ends_with("\r\n\r\nhello"), "{out}");
    assert_eq!(action, Action::Continue);
}

#[test]
fn smuggled_request_never_runs() {
    let input = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
    let (out, used, action) = run(input);
    assert_eq!(statuses(&out), vec![400]);
    assert_eq!((used, action), (input.len(), Action::Close));
}

#[test]
fn max_requests_closes() {
    let mut h = Http::new(Limits {
        max_requests: 2,
        ..Limits::default()
    });
    let mut out = Vec::new();
    let input = GET.repeat(3);
    let (used, action) = h.on_data(input.as_bytes(), &mut out);
    assert_eq!((used, action), (2 * GET.len(), Action::Close));
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("Connection: close")
            .count(),
        1
    );
}

/// Counts the current thread's allocations (test builds only): the
/// library's counting allocator, shared by path.
#[path = "../../../../iomux/tests/counting_alloc/mod.rs"]
mod counting;

#[test]
fn hot_path_allocates_nothing() {
    let mut h = Http::new(Limits {
        max_requests: u32::MAX,
        ..Limits::default()
    });
    let mut out = Vec::new();
    let mut input = GET.repeat(16).into_bytes();
    input.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    input.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    // Warm up: the output buffer grows to its working size.
    let _ = h.on_data(&input, &mut out);
    let count = counting::allocs;
    let before = count();
    for _ in 0..50 {
        out.clear();
        let (used, action) = h.on_data(&input, &mut out);
        assert_eq!((used, action), (input.len(), Action::Continue));
    }
    assert_eq!(count() - before, 0, "allocations while answering");
}

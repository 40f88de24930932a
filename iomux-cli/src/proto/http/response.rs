//! Writing responses straight into the connection's output buffer: static
//! pieces, a cached Date, numbers formatted by hand. Nothing allocates
//! once the buffer has grown to its working size.

use std::cell::Cell;

/// The TechEmpower plaintext body.
pub(super) const HELLO: &[u8] = b"Hello, World!";

/// How the response speaks about the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Conn {
    /// HTTP/1.1 default: say nothing.
    Persistent,
    /// HTTP/1.0 client that asked for keep-alive: confirm it.
    KeepAlive,
    /// This is the last response.
    Close,
}

/// An error status with the request that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    BadRequest,
    NotImplemented,
    HeaderTooLarge,
    UriTooLong,
    PayloadTooLarge,
}

impl Refusal {
    fn status(self) -> &'static str {
        match self {
            Refusal::BadRequest => "400 Bad Request",
            Refusal::NotImplemented => "501 Not Implemented",
            Refusal::HeaderTooLarge => "431 Request Header Fields Too Large",
            Refusal::UriTooLong => "414 URI Too Long",
            Refusal::PayloadTooLarge => "413 Content Too Large",
        }
    }
}

/// Appends a head: status line, Server, Date, Content-Type,
/// Content-Length, Connection as needed, extra lines, blank line.
pub(super) fn head(
    out: &mut Vec<u8>,
    status: &str,
    content_type: &str,
    len: usize,
    conn: Conn,
    extra: &str,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\nServer: iomux\r\nDate: ");
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_decimal(out, len);
    match conn {
        Conn::Persistent => {}
        Conn::KeepAlive => out.extend_from_slice(b"\r\nConnection: keep-alive"),
        Conn::Close => out.extend_from_slice(b"\r\nConnection: close"),
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// 200 with the plaintext body (no body for HEAD).
pub(super) fn plaintext(out: &mut Vec<u8>, conn: Conn, with_body: bool) {
    head(out, "200 OK", "text/plain", HELLO.len(), conn, "");
    if with_body {
        out.extend_from_slice(HELLO);
    }
}

/// A short text response: 404, 405.
pub(super) fn text(out: &mut Vec<u8>, status: &str, conn: Conn, extra: &str, with_body: bool) {
    let body = status.as_bytes();
    head(out, status, "text/plain", body.len() + 1, conn, extra);
    if with_body {
        out.extend_from_slice(body);
        out.push(b'\n');
    }
}

/// The answer to a refused request; the connection closes after it.
pub(super) fn refuse(out: &mut Vec<u8>, why: Refusal) {
    text(out, why.status(), Conn::Close, "", true);
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

thread_local! {
    /// The Date value, rebuilt at most once a second per thread.
    static DATE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub(super) fn date() -> [u8; 29] {
    let secs = iomux::time::unix_secs();
    DATE.with(|cell| {
        let (at, text) = cell.get();
        if at == secs {
            return text;
        }
        let text = imf_fixdate(secs);
        cell.set((secs, text));
        text
    })
}

fn imf_fixdate(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days as i64);
    let mut t = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    t[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two(&mut t[5..7], d);
    t[8..11].copy_from_slice(MONTHS[(m - 1) as usize]);
    two(&mut t[12..14], (y / 100) as u32);
    two(&mut t[14..16], (y % 100) as u32);
    two(&mut t[17..19], (rem / 3600) as u32);
    two(&mut t[20..22], (rem / 60 % 60) as u32);
    two(&mut t[23..25], (rem % 60) as u32);
    t
}

fn two(dst: &mut [u8], v: u32) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day), after H. Hinnant's
/// public-domain `civil_from_days` derivation.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_imf_fixdate() {
        assert_eq!(&imf_fixdate(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn decimal() {
        for n in [0usize, 7, 10, 13, 1_048_576, usize::MAX] {
            let mut v = Vec::new();
            push_decimal(&mut v, n);
            assert_eq!(v, n.to_string().as_bytes());
        }
    }
}

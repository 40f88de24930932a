//! HTTP limits, with nginx's defaults.

use std::time::Duration;

/// What one HTTP connection may use. The defaults follow nginx:
/// `client_header_timeout 60s`, `keepalive_timeout 75s`,
/// `keepalive_requests 1000`, `large_client_header_buffers 4 8k` (a URI
/// up to 8 KiB, a head up to 32 KiB), `client_max_body_size 1m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for a whole request (head and body) once it has begun,
    /// and for the first request of a connection.
    pub header_timeout: Duration,
    /// Time an idle connection is kept between requests.
    pub keepalive_timeout: Duration,
    /// Requests served on one connection before it is closed.
    pub max_requests: u32,
    /// Largest request head (request line and header fields) → 431.
    pub max_header_bytes: usize,
    /// Most header fields in a head → 431.
    pub max_headers: usize,
    /// Longest request target → 414.
    pub max_uri_bytes: usize,
    /// Largest request body → 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_requests: 1000,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

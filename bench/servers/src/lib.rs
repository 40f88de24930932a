//! What the peer servers share: the body they answer with and the address
//! they are told to listen on.

/// The body of every answer (TechEmpower plaintext).
pub const BODY: &str = "Hello, World!";

/// The listening address: the first argument, or 127.0.0.1:8080.
pub fn addr() -> std::net::SocketAddr {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    arg.parse().unwrap_or_else(|e| {
        eprintln!("usage: SERVER [ADDR]: bad address {arg:?}: {e}");
        std::process::exit(2)
    })
}

//! Echo integrity: 200 connections at once, 1 MiB of random bytes each,
//! every byte back in order (SHA-256 of what came back = of what was sent),
//! then a clean close after our half-close.

mod echo_check;
mod serve_common;

use serve_common::{Server, WAIT};

fn echo_integrity(model: &str, mode: &str) {
    let server = Server::start(model, mode, "echo", &[]);
    echo_check::integrity(server.addr, WAIT);
}
per_variant!(echo_integrity);

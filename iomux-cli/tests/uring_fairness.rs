//! The tests of `serve_fairness.rs`, run on `--model uring`: one peer
//! floods the echo server, another sends a byte at a time and still gets
//! each byte back promptly.
//!
//! The cases are that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that each case runs once, on the uring model.

#[macro_use]
mod on_uring;

#[path = "serve_fairness.rs"]
mod cases;

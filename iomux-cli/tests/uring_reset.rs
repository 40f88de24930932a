//! The tests of `serve_reset.rs`, run on `--model uring`: a peer that
//! resets while the server is sending to it; the server survives, cancels
//! and frees the connection, and goes on serving.
//!
//! The cases are that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that each case runs once, on the uring model.

#[macro_use]
mod on_uring;

#[path = "serve_reset.rs"]
mod cases;

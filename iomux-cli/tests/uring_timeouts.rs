//! The tests of `serve_timeouts.rs`, run on `--model uring`: a slowloris
//! head is cut off at the header timeout, an idle keep-alive connection at
//! the keep-alive timeout (the uring model's timer heap, waited on through
//! the io_uring_enter timeout), a reply the peer never reads at the send
//! timeout.
//!
//! The cases are that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that each case runs once, on the uring model.

#[macro_use]
mod on_uring;

#[path = "serve_timeouts.rs"]
mod cases;

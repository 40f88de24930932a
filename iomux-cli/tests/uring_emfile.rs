//! The tests of `serve_emfile.rs`, run on `--model uring`: out of fds, the
//! server sheds waiting connections with the spare-fd trick and polls the
//! listener instead of re-arming an accept that would fail (EMFILE) at once,
//! so it does not spin; existing connections are served throughout.
//!
//! The cases are that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that each case runs once, on the uring model.

#[macro_use]
mod on_uring;

#[path = "serve_emfile.rs"]
mod cases;

//! The HTTP tests of `serve_http.rs`, run on `--model uring`.
//!
//! The cases are that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that each case runs once, on the uring model
//! (whose ready line, behaviour and answers must be those of the others).

#[macro_use]
mod on_uring;

#[path = "serve_http.rs"]
mod cases;

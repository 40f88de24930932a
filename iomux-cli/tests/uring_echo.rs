//! The echo-integrity test of `serve_echo.rs` (200 connections, 1 MiB of
//! random bytes each, SHA-256 of what comes back), run on `--model uring`.
//!
//! The case is that very file, included as a module; `on_uring`'s
//! `per_variant!` comes before it so that it runs once, on the uring model.

#[macro_use]
mod on_uring;

#[path = "serve_echo.rs"]
mod cases;

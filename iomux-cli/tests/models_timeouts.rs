//! The tests of `serve_timeouts.rs`, run on the blocking, nonblocking and
//! sigio models: the header, keep-alive and send timeouts hold there as in
//! the event loops (the thread's socket timeouts, the busy loop's pass, the
//! signal-driven server's sweep).
//!
//! The cases are that very file, included as a module; `on_models`'
//! `per_variant!` comes before it so that each case runs once per model.

#[macro_use]
mod on_models;

#[path = "serve_timeouts.rs"]
mod cases;

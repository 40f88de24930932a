//! The tests of `serve_timeouts.rs`, run on `--model rt` (iomux::rt) over the
//! epoll, poll and io_uring drivers.
//!
//! The cases are that very file, included as a module; `on_rt`'s
//! `per_variant!` comes before it so that each case runs on each driver
//! (whose ready line, behaviour and answers must be those of the others).

#[macro_use]
mod on_rt;

#[path = "serve_timeouts.rs"]
mod cases;

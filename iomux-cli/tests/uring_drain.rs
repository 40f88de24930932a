//! The graceful-shutdown cases of `serve_drain.rs` (in-flight echo and HTTP
//! answered, idle connections closed at once, a never-reader cut at the
//! bound, a second signal), run on `--model uring`.

#[macro_use]
mod on_uring;

#[path = "serve_drain.rs"]
mod cases;

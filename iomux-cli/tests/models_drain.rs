//! The graceful-shutdown cases of `serve_drain.rs` (in-flight echo and HTTP
//! answered, idle connections closed at once, a never-reader cut at the
//! bound, a second signal), run on the blocking, nonblocking and sigio
//! models.

#[macro_use]
mod on_models;

#[path = "serve_drain.rs"]
mod cases;

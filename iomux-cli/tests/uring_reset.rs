//! The tests of `serve_reset.rs`, run on `--model uring`: a peer that
//! resets while the server is sending to it; the server survives, cancels
//! and frees the connection, and goes on serving.
//!
//! The cases are that very file, included as a module; `per_variant!` is
//! redefined before it so that each case runs once, on the uring model.

macro_rules! per_variant {
    ($body:ident) => {
        mod $body {
            #[test]
            fn uring() {
                super::$body("uring", "level");
            }
        }
    };
}

#[path = "serve_reset.rs"]
mod cases;

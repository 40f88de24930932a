//! The tests of `serve_fairness.rs`, run on `--model uring`: one peer
//! floods the echo server, another sends a byte at a time and still gets
//! each byte back promptly.
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

#[path = "serve_fairness.rs"]
mod cases;

//! The echo-integrity test of `serve_echo.rs` (200 connections, 1 MiB of
//! random bytes each, SHA-256 of what comes back), run on `--model uring`.
//!
//! The case is that very file, included as a module; `per_variant!` is
//! redefined before it so that it runs once, on the uring model.

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

#[path = "serve_echo.rs"]
mod cases;

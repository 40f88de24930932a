//! The tests of `serve_timeouts.rs`, run on `--model uring`: a slowloris
//! head is cut off at the header timeout, an idle keep-alive connection at
//! the keep-alive timeout (the uring model's timer heap, waited on through
//! the io_uring_enter timeout).
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

#[path = "serve_timeouts.rs"]
mod cases;

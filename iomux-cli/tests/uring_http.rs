//! The HTTP tests of `serve_http.rs`, run on `--model uring`.
//!
//! The cases are that very file, included as a module; `per_variant!` is
//! redefined before it so that each case runs once, on the uring model
//! (whose ready line, behaviour and answers must be those of the others).

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

#[path = "serve_http.rs"]
mod cases;

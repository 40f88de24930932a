//! The tests of `serve_emfile.rs`, run on `--model uring`: out of fds, the
//! server sheds waiting connections with the spare-fd trick and polls the
//! listener instead of re-arming an accept that would fail (EMFILE) at once,
//! so it does not spin; existing connections are served throughout.
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

#[path = "serve_emfile.rs"]
mod cases;

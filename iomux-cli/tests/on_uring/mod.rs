//! For the `uring_*` tests, each of which includes a `serve_*` test file as
//! a module: included first (`#[macro_use] mod on_uring;`), this
//! `per_variant!` shadows the one of `serve_common`, so that each case of
//! the included file runs once, on `--model uring`.

/// Defines one `#[test]`, calling `$body("uring", "level")`.
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

//! For the `models_*` tests that include a `serve_*` test file as a module:
//! included first (`#[macro_use] mod on_models;`), this `per_variant!`
//! shadows the one of `serve_common`, so that each case of the included file
//! runs on the blocking, nonblocking and sigio models.

/// Defines one `#[test]` per model, calling `$body(model, "level")` (the
/// mode flag means nothing to these models).
macro_rules! per_variant {
    ($body:ident) => {
        mod $body {
            #[test]
            fn blocking() {
                super::$body("blocking", "level");
            }
            #[test]
            fn nonblocking() {
                super::$body("nonblocking", "level");
            }
            #[test]
            fn sigio() {
                super::$body("sigio", "level");
            }
        }
    };
}

//! For the `rt_model_*` tests, each of which includes a `serve_*` test file
//! as a module: included first (`#[macro_use] mod on_rt;`), this
//! `per_variant!` shadows the one of `serve_common`, so that each case of
//! the included file runs on `--model rt` over a readiness driver (epoll,
//! poll) and the io_uring completion driver.

/// Defines one `#[test]` per driver, calling `$body("rt", driver)`.
macro_rules! per_variant {
    ($body:ident) => {
        mod $body {
            #[test]
            fn rt_epoll() {
                super::$body("rt", "epoll");
            }
            #[test]
            fn rt_poll() {
                super::$body("rt", "poll");
            }
            #[test]
            fn rt_uring() {
                super::$body("rt", "uring");
            }
        }
    };
}

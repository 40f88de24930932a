//! The protocols every model speaks.

use clap::ValueEnum;

/// Which protocol a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Proto {
    /// Every byte back, in order.
    Echo,
    /// HTTP/1.1: GET /plaintext, POST /echo.
    Http,
}

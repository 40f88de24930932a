//! [`ParseNameError`]: the one error of every `FromStr` in the library
//! that reads a name off a command line or an environment variable
//! ([`Backend`](crate::Backend), [`rt::DriverKind`](crate::rt::DriverKind)).
//!
//! What it is not: an error of the I/O paths (those are
//! [`std::io::Error`]s, and this converts into one, `InvalidInput`, for
//! callers that return `io::Result`).

use std::fmt;
use std::io;

/// A name that is none of those accepted: what was being parsed (a
/// `"backend"`, a `"driver"`), the input as given, and the names that
/// would have been accepted.
///
/// It displays as `unknown backend "kqueue": expected epoll, poll, select
/// or uring`, ready for a command line's error message.
///
/// ```
/// use iomux::{Backend, ParseNameError};
///
/// let err: ParseNameError = "kqueue".parse::<Backend>().unwrap_err();
/// assert_eq!(err.what(), "backend");
/// assert_eq!(err.input(), "kqueue");
/// assert_eq!(err.expected(), ["epoll", "poll", "select", "uring"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseNameError {
    what: &'static str,
    input: String,
    expected: &'static [&'static str],
}

impl ParseNameError {
    pub(crate) fn new(
        what: &'static str,
        input: &str,
        expected: &'static [&'static str],
    ) -> ParseNameError {
        ParseNameError {
            what,
            input: input.to_owned(),
            expected,
        }
    }

    /// What was being parsed: `"backend"`, `"driver"`.
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The input that named nothing known, as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The canonical names that are accepted (some parsers take aliases
    /// too, which their `FromStr` documents).
    pub fn expected(&self) -> &'static [&'static str] {
        self.expected
    }
}

impl fmt::Display for ParseNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}: expected ", self.what, self.input)?;
        let n = self.expected.len();
        for (i, name) in self.expected.iter().enumerate() {
            let sep = match i {
                0 => "",
                i if i + 1 == n => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{name}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseNameError {}

impl From<ParseNameError> for io::Error {
    /// An `InvalidInput` error carrying the parse error.
    fn from(e: ParseNameError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

//! The service interface: one handler per connection, bytes in, bytes out.

use std::time::Instant;

/// What a connection does after its handler has consumed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep the connection open.
    Continue,
    /// Send what is in the output buffer, then close (a lingering close, so
    /// that the last answer reaches the peer).
    Close,
}

/// A protocol, per connection. The same handlers serve every I/O model, so
/// the models differ only in how bytes reach them.
pub trait Handler: Send + 'static {
    /// Consumes bytes from the front of `input` and appends replies to
    /// `output`. Returns how many bytes of `input` were consumed (the rest is
    /// kept and offered again with more data) and what to do next.
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action);

    /// The peer closed its sending side; `input` holds what was not consumed.
    /// The default closes once the output is flushed.
    fn on_read_closed(&mut self, input: &[u8], output: &mut Vec<u8>) -> Action {
        let _ = (input, output);
        Action::Close
    }

    /// When the connection should be closed if nothing more happens (the
    /// header timeout in the middle of a request head, the keep-alive
    /// timeout between requests). `None`: no deadline.
    fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Output that had to wait for the peer (a short write) is now all
    /// sent. Lets a handler start its idle clock when its answer has really
    /// left, as nginx's keep-alive timeout does. Not called when answers
    /// leave at once. The default does nothing.
    fn on_drained(&mut self) {}
}

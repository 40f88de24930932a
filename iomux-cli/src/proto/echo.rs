//! Echo: every byte back, in order.

use iomux::conn::{Action, Handler};

/// The echo protocol. Back-pressure is the connection's business: it stops
/// reading while too much echoed output is unsent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        output.extend_from_slice(input);
        (input.len(), Action::Continue)
    }
}

//! Idle connections give their buffers back.
//!
//! Most of a million connections are idle, and a 4 KiB input buffer kept
//! by each is 4 GB. So once a second (`Config::release_idle_after`) a sweep
//! frees the buffers of every connection that did no I/O since the last
//! sweep and has nothing unconsumed or unsent. A busy connection keeps
//! its buffers, so the request path itself never allocates; one that goes
//! quiet is freed one to two intervals later (`after_io` marks it busy). The sweep runs only while
//! some connection may hold buffers.
//!
//! Not for: closing idle connections (that is a handler's deadline, or the
//! keep-alive timeout); only their buffers go.

use std::time::Instant;

use super::EventLoop;

impl EventLoop {
    /// Runs the sweep if it is due.
    pub(super) fn sweep_idle(&mut self, now: Instant) {
        let (Some(at), Some(after)) = (self.idle_sweep_at, self.cfg.release_idle_after) else {
            return;
        };
        if now < at {
            return;
        }
        let mut holding = false;
        for (_, conn) in self.conns.iter_mut() {
            // Busy since the last sweep (or in a callback, its input taken
            // out): looked at again next time.
            if !std::mem::replace(&mut conn.busy, false) && !conn.in_callback {
                conn.release_idle_buffers();
            }
            holding |= conn.in_callback || conn.holds_buffers();
        }
        self.idle_sweep_at = holding.then(|| now + after);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use crate::conn::{Action, Handler};
    use crate::reactor::{Config, EventLoop};

    struct Echo;
    impl Handler for Echo {
        fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
            output.extend_from_slice(input);
            (input.len(), Action::Continue)
        }
    }

    fn held(el: &EventLoop) -> Vec<bool> {
        el.conns
            .iter()
            .map(|(_, c)| c.session.holds_buffers())
            .collect()
    }

    /// Turns the loop until `done` or the bound; true if `done`.
    fn turn_until(el: &mut EventLoop, bound: Duration, done: impl Fn(&EventLoop) -> bool) -> bool {
        let end = std::time::Instant::now() + bound;
        while !done(el) {
            if std::time::Instant::now() >= end {
                return false;
            }
            el.turn(Some(Duration::from_millis(5))).expect("turn");
        }
        true
    }

    #[test]
    fn a_quiet_connection_gives_its_buffers_back_and_serves_on() {
        let mut el = EventLoop::new(Config {
            release_idle_after: Some(Duration::from_millis(20)),
            ..Config::default()
        })
        .expect("loop");
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let (server, _) = l.accept().expect("accept");
        el.add_connection(server, Box::new(Echo)).expect("add");
        for round in 0..2 {
            client.write_all(b"ping").unwrap();
            assert!(
                turn_until(&mut el, Duration::from_secs(5), |el| held(el) == [true]),
                "round {round}: the read never allocated a buffer"
            );
            let mut got = [0u8; 4];
            while !matches!(client.read(&mut got), Ok(4)) {
                el.turn(Some(Duration::from_millis(5))).expect("turn");
            }
            assert_eq!(&got, b"ping");
            assert!(
                turn_until(&mut el, Duration::from_secs(5), |el| held(el) == [false]),
                "round {round}: the idle connection kept its buffers"
            );
            assert!(
                el.idle_sweep_at.is_none(),
                "no sweep is due once all are freed"
            );
        }
    }

    #[test]
    fn none_keeps_the_buffers() {
        let mut el = EventLoop::new(Config {
            release_idle_after: None,
            ..Config::default()
        })
        .expect("loop");
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
        let (server, _) = l.accept().expect("accept");
        el.add_connection(server, Box::new(Echo)).expect("add");
        client.write_all(b"ping").unwrap();
        assert!(turn_until(&mut el, Duration::from_secs(5), |el| held(el) == [true]));
        for _ in 0..20 {
            el.turn(Some(Duration::from_millis(5))).expect("turn");
        }
        assert_eq!(held(&el), [true], "kept, as configured");
        assert!(el.idle_sweep_at.is_none());
    }
}

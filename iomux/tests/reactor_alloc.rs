//! The reactor's hot path allocates nothing: once a connection's buffers
//! have grown to their working size, a request/response round trip
//! through wait → read → handler → write makes no heap allocation.
//!
//! On the readiness driver in each mode, and on the completion driver (a
//! completion's bytes copied into the connection's input, the reply moved
//! into its send: buffers swapped, never made anew).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use iomux::conn::{Action, Handler};
use iomux::reactor::{Config, EventLoop};
use iomux::{Backend, Mode};

#[macro_use]
mod common;
mod counting_alloc;
use counting_alloc::allocs;

/// Answers every 4-byte request with a 4-byte response.
struct Pong;

impl Handler for Pong {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        let whole = input.len() / 4 * 4;
        for _ in 0..whole / 4 {
            output.extend_from_slice(b"pong");
        }
        (whole, Action::Continue)
    }
}

fn round_trips(el: &mut EventLoop, client: &mut TcpStream, n: usize) {
    let mut buf = [0u8; 4];
    for _ in 0..n {
        client.write_all(b"ping").unwrap();
        // The loop answers within a few turns.
        let mut got = 0;
        for _ in 0..100 {
            el.turn(Some(Duration::from_millis(100))).unwrap();
            match client.read(&mut buf[got..]) {
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
            if got == 4 {
                break;
            }
        }
        assert_eq!(&buf, b"pong");
    }
}

fn no_allocation(backend: Backend, mode: Mode) {
    no_allocation_with(
        Config::default().with_backend(backend).with_mode(mode),
        &format!("{backend} {mode:?}"),
    );
}

fn no_allocation_with(cfg: Config, what: &str) {
    let mut el = EventLoop::new(cfg).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    client.set_nonblocking(true).unwrap();
    let (server, _) = l.accept().unwrap();
    el.add_connection(server, Box::new(Pong)).unwrap();
    round_trips(&mut el, &mut client, 10); // warm up: buffers reach their size
    let before = allocs();
    round_trips(&mut el, &mut client, 200);
    let made = allocs() - before;
    assert_eq!(made, 0, "{what}: {made} allocations in 200 round trips");
}

fn hot_path_allocates_nothing(backend: Backend) {
    for mode in [Mode::Level, Mode::Edge] {
        no_allocation(backend, mode);
    }
}
on_backends!(hot_path_allocates_nothing: select = Select, poll = Poll, epoll = Epoll);

#[test]
fn completion_hot_path_allocates_nothing() {
    if let Some(v) = common::completion() {
        no_allocation_with(v.config(), "completion driver");
    }
}

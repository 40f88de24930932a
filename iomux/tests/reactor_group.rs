//! `LoopGroup`: several loops serve one address, with SO_REUSEPORT
//! listeners or one EPOLLEXCLUSIVE-shared listener; stop ends them all.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use iomux::reactor::{Action, Config, Handler, LoopGroup, Sharing};
use iomux::{Backend, Mode};

struct Echo;

impl Handler for Echo {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        output.extend_from_slice(input);
        (input.len(), Action::Continue)
    }
}

fn serve(backend: Backend, sharing: Sharing) {
    let cfg = Config {
        backend,
        mode: Mode::Level,
        ..Config::default()
    };
    let group = LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        3,
        cfg,
        Arc::new(|| Box::new(Echo)),
        sharing,
    )
    .unwrap();
    assert_eq!(group.handles().len(), 3);
    let mut conns: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(group.local_addr()).unwrap())
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let msg = format!("{backend} {sharing:?} {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, msg.as_bytes());
    }
    group.stop();
    group.join().unwrap();
}

#[test]
fn reuseport_on_every_backend() {
    for backend in [Backend::Select, Backend::Poll, Backend::Epoll] {
        serve(backend, Sharing::ReusePort);
    }
}

#[test]
fn exclusive_shared_listener_on_epoll() {
    serve(Backend::Epoll, Sharing::Exclusive);
    let refused = LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        2,
        Config {
            backend: Backend::Poll,
            ..Config::default()
        },
        Arc::new(|| Box::new(Echo)),
        Sharing::Exclusive,
    );
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::Unsupported)
    );
}

//! A minimal level-triggered echo server on the raw Poller API.
//!
//! `cargo run --example echo_poller -- [select|poll|epoll|uring]`, then
//! `nc 127.0.0.1 <port>`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use iomux::{Backend, Events, Interest, Mode, Poller, Token};

fn main() -> std::io::Result<()> {
    let backend: Backend = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "epoll".into())
        .parse()?;
    let poller = Poller::with_backend(backend)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    println!("listening on {} ({backend})", listener.local_addr()?);
    poller.register(&listener, Token(0), Interest::READABLE, Mode::Level)?;
    let mut conns: HashMap<usize, TcpStream> = HashMap::new();
    let mut next = 1;
    let mut events = Events::with_capacity(256);
    let mut buf = [0u8; 4096];
    loop {
        poller.wait(&mut events, None)?;
        for ev in events.iter() {
            if ev.token() == Token(0) {
                while let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true)?;
                    poller.register(&s, Token(next), Interest::READABLE, Mode::Level)?;
                    conns.insert(next, s);
                    next += 1;
                }
                continue;
            }
            let id = ev.token().0;
            let Some(s) = conns.get_mut(&id) else {
                continue;
            };
            let close = match s.read(&mut buf) {
                Ok(0) => true,
                // A toy: a blocking-ish write_all is fine for a demo.
                Ok(n) => s.write_all(&buf[..n]).is_err(),
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            if close {
                let s = conns.remove(&id).expect("present");
                poller.deregister(&s)?;
            }
        }
    }
}

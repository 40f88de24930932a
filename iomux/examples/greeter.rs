//! A server that speaks first: a greeting naming the client goes out as
//! soon as the connection is open, before the client has sent anything
//! (an SMTP or FTP banner). Then each line comes back upper-cased, and
//! `quit` ends the session after a goodbye.
//!
//! `cargo run --example greeter`, then `nc 127.0.0.1 <port>`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use iomux::conn::{Context, Handler};
use iomux::reactor::{Config, LoopGroup};

struct Greeter;

impl Handler for Greeter {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        let who = cx
            .peer_addr()
            .map_or_else(|| "stranger".to_string(), |p| p.to_string());
        cx.send(format!("220 hello {who}\r\n").as_bytes());
    }

    fn on_message(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        let mut used = 0;
        while let Some(end) = input[used..].iter().position(|&b| b == b'\n') {
            let line = input[used..used + end].trim_ascii();
            used += end + 1;
            if line.eq_ignore_ascii_case(b"quit") {
                cx.send(b"221 bye\r\n");
                cx.close();
                return input.len();
            }
            let mut reply = line.to_ascii_uppercase();
            reply.extend_from_slice(b"\r\n");
            cx.send(&reply);
        }
        used
    }
}

/// Serves the greeter on `addr` with one loop.
pub fn serve(addr: SocketAddr) -> io::Result<LoopGroup> {
    LoopGroup::bind(addr, 1, Config::default(), Arc::new(|| Box::new(Greeter)))
}

/// `--help`: the arguments this example takes.
#[allow(dead_code)] // the integration test includes this file without running main
const HELP: &str = "\
greeter: a server that speaks first: a greeting, then each line upper-cased, `quit` to end

usage: greeter

  -h, --help  print this help

Takes no arguments; listens on 127.0.0.1 (a free port, printed).
";

#[allow(dead_code)] // the integration test includes this file without running main
fn main() -> io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let group = serve("127.0.0.1:0".parse().unwrap())?;
    println!("greeter on {}", group.local_addr());
    group.join()
}

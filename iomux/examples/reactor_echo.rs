//! An echo server on the reactor: a `LoopGroup` of event loops serving a
//! six-line `Handler`, each loop with its own SO_REUSEPORT listener, or
//! (`round-robin`) the first loop accepting for all and handing
//! connections out in turn.
//!
//! `cargo run --example reactor_echo -- [select|poll|epoll] [threads] [round-robin]`,
//! then `nc 127.0.0.1 <port>`. Stops on Ctrl-C (the default SIGINT action).

use std::sync::Arc;

use iomux::conn::{Action, Handler};
use iomux::reactor::{Config, LoopGroup, Sharing};
use iomux::{Backend, Mode};

struct Echo;

impl Handler for Echo {
    fn on_data(&mut self, input: &[u8], output: &mut Vec<u8>) -> (usize, Action) {
        output.extend_from_slice(input);
        (input.len(), Action::Continue)
    }
}

/// `--help`: the arguments this example takes.
const HELP: &str = "\
reactor_echo: an echo server on the reactor's LoopGroup

usage: reactor_echo [BACKEND] [THREADS] [round-robin]

  BACKEND      select|poll|epoll (default epoll)
  THREADS      event loops (default 1)
  round-robin  the first loop accepts for all and hands connections out in turn (default: a SO_REUSEPORT listener per loop)
  -h, --help   print this help

Stops on Ctrl-C.
";

fn main() -> std::io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let mut args = std::env::args().skip(1);
    let backend: Backend = args.next().unwrap_or_else(|| "epoll".into()).parse()?;
    let threads = args.next().map_or(1, |t| t.parse().unwrap_or(1));
    let sharing = match args.next().as_deref() {
        Some("round-robin") => Sharing::RoundRobin,
        _ => Sharing::ReusePort,
    };
    // Edge where the backend has it, level on poll and select.
    let mode = Mode::EdgeOrLevel;
    let cfg = Config::default().with_backend(backend).with_mode(mode);
    let group = LoopGroup::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        threads,
        cfg,
        Arc::new(|| Box::new(Echo)),
        sharing,
    )?;
    println!(
        "listening on {} ({backend}, {mode:?}, {threads} loops, {sharing:?})",
        group.local_addr()
    );
    group.join()
}

//! Command-line flags shared by the runtime examples:
//! `--addr ADDR --driver epoll|poll|select|uring-poll|uring --threads N`,
//! and the group start that prints `listening on ADDR` first.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind};

pub struct Args {
    pub addr: SocketAddr,
    pub driver: DriverKind,
    pub threads: usize,
}

pub fn parse(default_port: u16) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], default_port)),
        driver: DriverKind::Readiness(iomux::Backend::Epoll),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--driver" => args.driver = value()?.parse()?,
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?;
                if args.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            other => {
                return Err(format!(
                    "unknown flag {other}; usage: --addr ADDR --driver epoll|poll|select|uring-poll|uring --threads N"
                ));
            }
        }
    }
    Ok(args)
}

/// Binds `args.addr` (SO_REUSEPORT), prints `listening on ADDR`, and runs
/// `serve(listener)` on `args.threads` runtimes, each with its own listener
/// on that address.
pub fn run<F, Fut>(args: &Args, serve: F) -> io::Result<()>
where
    F: Fn(TcpListener) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    let first = iomux::reactor::bind_reuseport(args.addr)?;
    let addr = first.local_addr()?;
    println!("listening on {addr}");
    let first = Arc::new(Mutex::new(Some(first)));
    rt::group::run(args.threads, args.driver, move |_i| {
        // The first runtime takes the socket bound above (a socket left
        // unaccepted would keep its share of the connections); the others
        // bind their own.
        let listener = match first.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(l) => TcpListener::from_std(l),
            None => TcpListener::bind_reuseport(addr),
        };
        let serve = &serve;
        let fut = listener.map(serve);
        async move { fut?.await }
    })?;
    Ok(())
}

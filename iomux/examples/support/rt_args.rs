//! Command-line flags shared by the runtime examples:
//! `--addr ADDR --driver epoll|poll|select|uring-poll|uring --threads N`,
//! an example's own `--flag VALUE`s, `--help`, and the group start that
//! prints `listening on ADDR` first.

// Each example uses its own part of this file.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use iomux::rt::net::TcpListener;
use iomux::rt::{self, DriverKind};

/// What an example says about itself for `--help`, and the flags it takes
/// besides the shared ones.
pub struct Usage {
    /// The example's name (the first word of its help).
    pub name: &'static str,
    /// One line on what it does.
    pub about: &'static str,
    /// The port of the default `--addr` (on 127.0.0.1).
    pub default_port: u16,
    /// The example's own flags: (`--flag VALUE`, what it sets).
    pub extra: &'static [(&'static str, &'static str)],
}

pub struct Args {
    pub addr: SocketAddr,
    pub driver: DriverKind,
    pub threads: usize,
    /// The example's own flags that were given: (`--flag`, value).
    extra: Vec<(&'static str, String)>,
}

impl Args {
    /// The value of the example's own flag `name` (e.g. `"--cert"`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(flag, _)| *flag == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `--help` text: every flag with what it does.
pub fn help(usage: &Usage) -> String {
    let mut rows = vec![
        (
            "--addr ADDR".to_string(),
            format!(
                "listening address (default 127.0.0.1:{})",
                usage.default_port
            ),
        ),
        (
            "--driver DRIVER".to_string(),
            "epoll|poll|select|uring-poll|uring (default epoll)".to_string(),
        ),
        (
            "--threads N".to_string(),
            "runtimes, one per thread, each with its own listener (default 1)".to_string(),
        ),
    ];
    rows.extend(
        usage
            .extra
            .iter()
            .map(|(f, h)| (f.to_string(), h.to_string())),
    );
    rows.push(("-h, --help".to_string(), "print this help".to_string()));
    let width = rows.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    let mut out = format!(
        "{}: {}\n\nusage: {} [FLAGS]\n\n",
        usage.name, usage.about, usage.name
    );
    for (flag, what) in rows {
        out.push_str(&format!("  {flag:width$}  {what}\n"));
    }
    out.push_str("\nPrints `listening on ADDR` first.\n");
    out
}

/// Parses the command line; `--help` prints the help and exits 0.
pub fn parse(usage: &Usage) -> Result<Args, String> {
    parse_from(usage, std::env::args().skip(1))
        .map_err(|e| format!("{e}\n(`{} --help` lists the flags)", usage.name))
}

fn parse_from(usage: &Usage, argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], usage.default_port)),
        driver: DriverKind::Readiness(iomux::Backend::Epoll),
        threads: 1,
        extra: Vec::new(),
    };
    let mut it = argv;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{}", help(usage));
                std::process::exit(0);
            }
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--driver" => {
                args.driver = value()?
                    .parse()
                    .map_err(|e: iomux::ParseNameError| e.to_string())?
            }
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?;
                if args.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            other => {
                let known = usage
                    .extra
                    .iter()
                    .map(|(f, _)| f.split(' ').next().unwrap_or(f))
                    .find(|f| *f == other);
                match known {
                    Some(name) => {
                        let v = value()?;
                        args.extra.push((name, v));
                    }
                    None => return Err(format!("unknown flag {other}")),
                }
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
    let first = iomux::socket::bind_reuseport(args.addr)?;
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

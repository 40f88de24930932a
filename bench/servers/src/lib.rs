//! What the peer servers share: the body they answer with, the address
//! they are told to listen on, and the line that says they are up.

/// The body of every answer (TechEmpower plaintext).
pub const BODY: &str = "Hello, World!";

/// The listening address: `--addr ADDR` (or `--addr=ADDR`), else the first
/// plain argument, else 127.0.0.1:8080.
pub fn addr() -> std::net::SocketAddr {
    let arg = addr_arg(std::env::args().skip(1)).unwrap_or_else(|| "127.0.0.1:8080".into());
    arg.parse().unwrap_or_else(|e| {
        eprintln!("usage: SERVER [--addr] ADDR: bad address {arg:?}: {e}");
        std::process::exit(2)
    })
}

/// The value of `--flag VALUE` / `--flag=VALUE` among the arguments.
pub fn flag(name: &str) -> Option<String> {
    flag_in(std::env::args().skip(1), name)
}

fn flag_in(args: impl IntoIterator<Item = String>, name: &str) -> Option<String> {
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if let Some(v) = a.strip_prefix(name) {
            if v.is_empty() {
                return args.next();
            }
            if let Some(v) = v.strip_prefix('=') {
                return Some(v.to_owned());
            }
        }
    }
    None
}

fn addr_arg(args: impl IntoIterator<Item = String>) -> Option<String> {
    let args: Vec<String> = args.into_iter().collect();
    flag_in(args.iter().cloned(), "--addr").or_else(|| {
        // The first argument that is neither a flag nor a flag's value.
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if a.starts_with("--") {
                if !a.contains('=') {
                    it.next();
                }
                continue;
            }
            return Some(a);
        }
        None
    })
}

/// Prints `listening on ADDR` as the first line of stdout and flushes it,
/// so that a script can read the port of `--addr 127.0.0.1:0`.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn addr_forms() {
        assert_eq!(addr_arg(v(&["1.2.3.4:5"])).as_deref(), Some("1.2.3.4:5"));
        assert_eq!(
            addr_arg(v(&["--addr", "1.2.3.4:5"])).as_deref(),
            Some("1.2.3.4:5")
        );
        assert_eq!(
            addr_arg(v(&["--addr=1.2.3.4:5"])).as_deref(),
            Some("1.2.3.4:5")
        );
        assert_eq!(
            addr_arg(v(&["--driver", "legacy", "1.2.3.4:5"])).as_deref(),
            Some("1.2.3.4:5")
        );
        assert_eq!(addr_arg(v(&[])), None);
        assert_eq!(
            flag_in(v(&["--driver", "uring"]), "--driver").as_deref(),
            Some("uring")
        );
        assert_eq!(flag_in(v(&["--driverx", "uring"]), "--driver"), None);
    }
}

//! How much user memory an idle keep-alive connection costs the runtime:
//! N connections each get one 64 KiB response and then stay open, idle; the
//! server's heap (counted by a global allocator) is read before and after.
//!
//! ```text
//! cargo run --release -p iomux --example idle_memory -- --conns 10000 --driver uring
//! ```
//! Prints one line per driver asked for:
//! `idle_memory driver=uring conns=10000 heap_before=… heap_idle=… per_conn=… B`.
//! The clients run in a child process (one process holds about 19,900
//! fds). The per-connection figure includes the connection's task (its
//! future and header), its socket's runtime state, and whatever the
//! runtime kept from the 64 KiB response; the kernel's socket buffers are
//! not user memory and are not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream as StdStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use iomux::rt::{self, DriverKind, Runtime, net::TcpListener};

/// Counts the bytes allocated and not yet freed, process-wide.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to the system allocator with the same
// arguments; the counter is a static atomic, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RESPONSE: usize = 64 * 1024;
const USAGE: &str = "usage: idle_memory [--conns N] [--driver epoll|uring|...]... [--help]\n\
  N keep-alive connections each get one 64 KiB response, then idle; prints the\n\
  server's heap per connection for each driver (default: --conns 10000, epoll and uring)";

/// The client side (the child process): opens `n` connections to `addr`,
/// sends one byte on each, reads its 64 KiB, says `idle`, and keeps them
/// open until its stdin closes.
fn client(addr: &str, n: usize) -> std::io::Result<()> {
    let mut conns = Vec::with_capacity(n);
    let mut buf = vec![0u8; RESPONSE];
    for _ in 0..n {
        let mut c = StdStream::connect(addr)?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        c.write_all(b"?")?;
        c.read_exact(&mut buf)?;
        conns.push(c);
    }
    println!("idle");
    std::io::stdout().flush()?;
    let mut rest = String::new();
    std::io::stdin().read_line(&mut rest)?;
    Ok(())
}

/// One connection: a request byte, the 64 KiB response, then idle until
/// the peer closes.
async fn serve(mut conn: rt::net::TcpStream) -> std::io::Result<()> {
    static BODY: [u8; RESPONSE] = [b'x'; RESPONSE];
    let mut req = [0u8; 16];
    if conn.read(&mut req).await? == 0 {
        return Ok(());
    }
    conn.write_all(&BODY).await?;
    conn.flush().await?;
    while conn.read(&mut req).await? > 0 {}
    Ok(())
}

fn measure(driver: DriverKind, n: usize) -> std::io::Result<()> {
    let rt = Runtime::with_driver(driver)?;
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        // Warm the runtime (its tables, the timer, the first task) before
        // the baseline: one connection served and closed.
        {
            let warm = rt::spawn_local(async move {
                let (c, _) = listener.accept().await?;
                serve(c).await?;
                Ok::<_, std::io::Error>(listener)
            });
            let mut c = StdStream::connect(addr)?;
            c.write_all(b"?")?;
            let mut buf = vec![0u8; RESPONSE];
            // The runtime must run for the accept: read from a thread.
            let reader = std::thread::spawn(move || c.read_exact(&mut buf));
            let listener = warm
                .await
                .map_err(|_| std::io::Error::other("the warm-up task panicked"))??;
            reader.join().expect("reader")?;
            let before = LIVE.load(Ordering::Relaxed);

            let mut child = Command::new(std::env::current_exe()?)
                .args(["--client", &addr.to_string(), &n.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let out = child.stdout.take().expect("piped");
            // The child's `idle` line, read off the runtime's thread.
            let idle = std::thread::spawn(move || {
                let mut line = String::new();
                BufReader::new(out).read_line(&mut line).map(|_| line)
            });
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut accepted = 0;
            while accepted < n {
                let accept = rt::time::timeout(Duration::from_secs(30), listener.accept());
                let (c, _) = accept.await.map_err(|_| {
                    std::io::Error::other(format!("no connection in 30 s after {accepted}"))
                })??;
                drop(rt::spawn_local(async move {
                    if let Err(e) = serve(c).await {
                        eprintln!("idle_memory: a connection: {e}");
                    }
                }));
                accepted += 1;
            }
            while !idle.is_finished() {
                if Instant::now() > deadline {
                    return Err(std::io::Error::other("the clients did not go idle in 120 s"));
                }
                rt::time::sleep(Duration::from_millis(20)).await;
            }
            let line = idle.join().expect("idle reader")?;
            if line.trim() != "idle" {
                return Err(std::io::Error::other(format!("client said {line:?}")));
            }
            // A few turns so that the last sends' completions are in.
            rt::time::sleep(Duration::from_millis(200)).await;
            let after = LIVE.load(Ordering::Relaxed);
            let per = (after - before) as f64 / n as f64;
            println!(
                "idle_memory driver={} conns={n} heap_before={before} heap_idle={after} per_conn={per:.0} B",
                driver.name()
            );
            drop(child.stdin.take());
            child.wait()?;
        }
        Ok(())
    })
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut n = 10_000;
    let mut drivers = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--client" => {
                let (addr, n) = (args.next(), args.next().and_then(|v| v.parse().ok()));
                let (Some(addr), Some(n)) = (addr, n) else {
                    eprintln!("{USAGE}");
                    std::process::exit(2);
                };
                if let Err(e) = client(&addr, n) {
                    eprintln!("idle_memory client: {e}");
                    std::process::exit(1);
                }
                return;
            }
            "--conns" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => n = v,
                None => {
                    eprintln!("{USAGE}");
                    std::process::exit(2);
                }
            },
            "--driver" => match args.next().map(|v| v.parse::<DriverKind>()) {
                Some(Ok(d)) => drivers.push(d),
                _ => {
                    eprintln!("idle_memory: --driver: a driver name\n{USAGE}");
                    std::process::exit(2);
                }
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("idle_memory: unknown flag {other}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    if drivers.is_empty() {
        drivers = vec![
            DriverKind::Readiness(iomux::Backend::Epoll),
            DriverKind::Uring,
        ];
    }
    for d in drivers {
        if let Err(e) = measure(d, n) {
            eprintln!("idle_memory: {}: {e}", d.name());
            std::process::exit(1);
        }
    }
}

//! File throughput: `iomux::rt::fs` (on the epoll driver through the
//! blocking pool, on the io_uring driver as requests of the runtime's ring)
//! against `tokio::fs` (current thread runtime), writing then reading one
//! file sequentially in chunks.
//!
//! ```text
//! cargo run --release --example bench_fs -- [--mib 256] [--chunk-kib 1024] [--rounds 5] [--dir /tmp] [--fsync] [--only rt-epoll|rt-uring|tokio]
//! ```
//!
//! Each round runs every engine once, in an order that rotates between
//! rounds; the summary gives the median MiB/s of the write and of the read
//! for each, and the ratio to tokio. Without `--fsync` the file stays in the
//! page cache, so this measures the runtimes' cost per operation, not the
//! disk; with it each write pass ends with `sync_all`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iomux::rt::{self, DriverKind, Runtime};

struct Args {
    mib: usize,
    chunk: usize,
    rounds: usize,
    dir: PathBuf,
    fsync: bool,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        mib: 256,
        chunk: 1 << 20,
        rounds: 5,
        dir: std::env::temp_dir(),
        fsync: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--mib" => a.mib = value().parse().expect("--mib N"),
            "--chunk-kib" => a.chunk = value().parse::<usize>().expect("--chunk-kib N") << 10,
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--dir" => a.dir = value().into(),
            "--fsync" => a.fsync = true,
            "--only" => a.only = Some(value()),
            "--help" | "-h" => {
                println!(
                    "usage: bench_fs [--mib N] [--chunk-kib N] [--rounds N] [--dir DIR] [--fsync] \
                     [--only rt-epoll|rt-uring|tokio] [--help]"
                );
                std::process::exit(0);
            }
            other => {
                eprintln!("bench_fs: unknown flag {other}; try --help");
                std::process::exit(2);
            }
        }
    }
    a
}

/// Seconds to write, then to read, the file.
type Times = (Duration, Duration);

fn data(chunk: usize) -> Vec<u8> {
    (0..chunk).map(|i| (i * 31 % 251) as u8).collect()
}

fn iomux_rt(driver: DriverKind, path: &Path, a: &Args) -> io::Result<Times> {
    let rt = Runtime::with_driver(driver)?;
    rt.block_on(async {
        let buf = data(a.chunk);
        let t = Instant::now();
        let mut f = rt::fs::File::create(path).await?;
        for _ in 0..(a.mib << 20) / a.chunk {
            f.write_all(&buf).await?;
        }
        if a.fsync {
            f.sync_all().await?;
        }
        f.close().await?;
        let write = t.elapsed();
        let t = Instant::now();
        let mut f = rt::fs::File::open(path).await?;
        let mut buf = vec![0u8; a.chunk];
        let mut total = 0;
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        f.close().await?;
        assert_eq!(total, a.mib << 20);
        Ok((write, t.elapsed()))
    })
}

fn tokio_fs(path: &Path, a: &Args) -> io::Result<Times> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let buf = data(a.chunk);
        let t = Instant::now();
        let mut f = tokio::fs::File::create(path).await?;
        for _ in 0..(a.mib << 20) / a.chunk {
            f.write_all(&buf).await?;
        }
        f.flush().await?;
        if a.fsync {
            f.sync_all().await?;
        }
        drop(f);
        let write = t.elapsed();
        let t = Instant::now();
        let mut f = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; a.chunk];
        let mut total = 0;
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        assert_eq!(total, a.mib << 20);
        Ok((write, t.elapsed()))
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> io::Result<()> {
    let a = args();
    let engines: [(&str, Option<DriverKind>); 3] = [
        (
            "rt-epoll",
            Some(DriverKind::Readiness(iomux::Backend::Epoll)),
        ),
        ("rt-uring", Some(DriverKind::Uring)),
        ("tokio", None),
    ];
    let path = a.dir.join(format!("iomux-bench-fs-{}", std::process::id()));
    println!(
        "# {} MiB, chunks of {} KiB, {} rounds, fsync {}, file {}",
        a.mib,
        a.chunk >> 10,
        a.rounds,
        a.fsync,
        path.display()
    );
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); engines.len()];
    for round in 0..a.rounds {
        for k in 0..engines.len() {
            let i = (round + k) % engines.len();
            let (name, driver) = engines[i];
            if a.only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let (w, r) = match driver {
                Some(d) => iomux_rt(d, &path, &a)?,
                None => tokio_fs(&path, &a)?,
            };
            let mib = a.mib as f64;
            let (ws, rs) = (mib / w.as_secs_f64(), mib / r.as_secs_f64());
            println!("round {round} {name:8} write {ws:8.0} MiB/s  read {rs:8.0} MiB/s");
            results[i].0.push(ws);
            results[i].1.push(rs);
        }
    }
    let _ = std::fs::remove_file(&path);
    if a.only.is_some() {
        return Ok(());
    }
    let tokio_idx = engines.len() - 1;
    let (tw, tr) = (
        median(results[tokio_idx].0.clone()),
        median(results[tokio_idx].1.clone()),
    );
    println!("# median MiB/s (ratio to tokio::fs)");
    for (i, (name, _)) in engines.iter().enumerate() {
        let (w, r) = (median(results[i].0.clone()), median(results[i].1.clone()));
        println!(
            "{name:8} write {w:8.0} ({:.2}x)  read {r:8.0} ({:.2}x)",
            w / tw,
            r / tr
        );
    }
    Ok(())
}

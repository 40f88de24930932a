//! One bare `Poller::wait` (timeout zero) over N eventfds of which K are
//! ready, against the raw syscall a C programmer would write on the same
//! fds. Raw and Poller batches alternate in one run; medians are compared.
//!
//! The raw loops do the least any caller must do to learn which fds are
//! ready, ending, like `Poller::wait`, with an array of (fd, readiness):
//! epoll_wait writes it itself; after poll, a scan of `revents` until all `n`
//! ready entries are found, copying each out; for select, a copy of the
//! master read set before the call and a scan of the result bitmap after.

use std::hint::black_box;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use iomux::{Backend, Events, Interest, Mode, Poller, Token};
use rustix::event::{EventfdFlags, eventfd};

use super::{PipesArgs, median};
use crate::CliResult;

const CAPACITY: usize = 1024;

/// The raw-syscall baseline for one backend.
enum Raw {
    Epoll {
        epfd: OwnedFd,
        buf: Vec<libc::epoll_event>,
    },
    Poll {
        fds: Vec<libc::pollfd>,
        out: Vec<(i32, i16)>,
    },
    Select {
        master: Vec<u64>,
        work: Vec<u64>,
        nfds: i32,
        out: Vec<(i32, i16)>,
    },
}

impl Raw {
    fn new(backend: Backend, fds: &[OwnedFd]) -> io::Result<Raw> {
        Ok(match backend {
            Backend::Poll => Raw::Poll {
                fds: fds
                    .iter()
                    .map(|f| libc::pollfd {
                        fd: f.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect(),
                out: Vec::with_capacity(CAPACITY),
            },
            Backend::Select => {
                let max = fds.iter().map(|f| f.as_raw_fd()).max().unwrap_or(0);
                let words = (max as usize + 1).div_ceil(64);
                let mut master = vec![0u64; words];
                for f in fds {
                    let fd = f.as_raw_fd() as usize;
                    master[fd / 64] |= 1 << (fd % 64);
                }
                Raw::Select {
                    work: master.clone(),
                    master,
                    nfds: max + 1,
                    out: Vec::with_capacity(CAPACITY),
                }
            }
            // io_uring has no single "raw readiness syscall"; it is compared
            // with raw epoll_wait, the call it would replace.
            Backend::Epoll | Backend::IoUring => {
                let epfd =
                    rustix::event::epoll::create(rustix::event::epoll::CreateFlags::CLOEXEC)?;
                for (i, f) in fds.iter().enumerate() {
                    rustix::event::epoll::add(
                        &epfd,
                        f,
                        rustix::event::epoll::EventData::new_u64(i as u64),
                        rustix::event::epoll::EventFlags::IN,
                    )?;
                }
                Raw::Epoll {
                    epfd,
                    buf: vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY],
                }
            }
        })
    }

    /// One raw wait with timeout zero; returns how many fds were ready.
    fn wait(&mut self) -> usize {
        match self {
            Raw::Epoll { epfd, buf } => {
                // SAFETY: `buf` holds CAPACITY epoll_events the kernel may fill.
                let n = unsafe {
                    libc::epoll_wait(epfd.as_raw_fd(), buf.as_mut_ptr(), CAPACITY as i32, 0)
                };
                n.max(0) as usize
            }
            Raw::Poll { fds, out } => {
                // SAFETY: `fds` is a live array of `len` pollfds.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
                let mut left = n.max(0) as usize;
                out.clear();
                for p in fds.iter() {
                    if left == 0 || out.len() == CAPACITY {
                        break;
                    }
                    if p.revents != 0 {
                        out.push((p.fd, p.revents));
                        left -= 1;
                    }
                }
                out.len()
            }
            Raw::Select {
                master,
                work,
                nfds,
                out,
            } => {
                work.copy_from_slice(master);
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `work` holds ceil(nfds/64) words, the bits the
                // kernel reads and writes; the other sets are null.
                let n = unsafe {
                    libc::pselect(
                        *nfds,
                        work.as_mut_ptr().cast(),
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        &ts,
                        std::ptr::null(),
                    )
                };
                out.clear();
                if n <= 0 {
                    return 0;
                }
                for (w, &bits) in work.iter().enumerate() {
                    let mut bits = bits;
                    while bits != 0 && out.len() < CAPACITY {
                        let b = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        out.push(((w * 64 + b) as i32, libc::POLLIN));
                    }
                }
                out.len()
            }
        }
    }
}

/// Times `iters` calls of `f`; returns ns per call.
fn time_batch(iters: usize, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn set_ready(fds: &[OwnedFd], k: usize) -> io::Result<()> {
    let mut buf = [0u8; 8];
    for f in fds {
        let _ = rustix::io::read(f.as_fd(), &mut buf);
    }
    let n = fds.len();
    let k = k.min(n); // spread over more slots than fds, some would repeat
    for i in 0..k {
        // Spread the ready fds over the whole set: k ≤ n keeps them distinct.
        rustix::io::write(&fds[i * n / k], &1u64.to_ne_bytes())?;
    }
    Ok(())
}

pub(super) fn run(args: &PipesArgs, backends: &[Backend]) -> CliResult {
    let sizes = args
        .fds
        .clone()
        .unwrap_or_else(|| vec![100, 1000, 10_000, 19_000]);
    let readies = args.active.clone().unwrap_or_else(|| vec![1, 100]);
    let rounds = args.runs.max(3);
    println!(
        "pipes --wait: one wait, timeout 0, N eventfds watched, K ready; ratio = median of {rounds} alternating rounds"
    );
    println!(
        "{:<7} {:>6} {:>4} {:>12} {:>12} {:>7}",
        "backend", "N", "K", "raw ns", "Poller ns", "ratio"
    );
    for &n in &sizes {
        let fds: Vec<OwnedFd> = (0..n)
            .map(|_| eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("cannot open {n} eventfds: {e}{}", super::fd_limit_note()))?;
        for &backend in backends {
            let poller = match Poller::with_backend(backend) {
                Ok(p) => p,
                Err(e) => {
                    println!("{:<7} unavailable: {e}", backend.name());
                    continue;
                }
            };
            // Start from quiet fds: the previous backend's round left some
            // ready, and io_uring would report readiness seen at
            // registration (see the io_uring backend's notes).
            set_ready(&fds, 0)?;
            for (i, f) in fds.iter().enumerate() {
                poller.register(f, Token(i), Interest::READABLE, Mode::Level)?;
            }
            let mut raw = Raw::new(backend, &fds)?;
            let mut events = Events::with_capacity(CAPACITY);
            for &k in &readies {
                // More ready fds than fds: all of them.
                let k = k.min(n);
                set_ready(&fds, k)?;
                let expect = k;
                let got = raw.wait();
                let ours = poller.wait(&mut events, Some(Duration::ZERO))?;
                if got != expect || ours != expect {
                    return Err(format!(
                        "{backend} N={n} K={k}: raw saw {got}, Poller saw {ours}, expected {expect}"
                    )
                    .into());
                }
                // About 5 ms per batch; raw and Poller batches alternate, and
                // the ratio is the median of the per-round ratios, which
                // cancels most of a noisy machine's drift.
                let probe = time_batch(20, || raw.wait()).max(50.0);
                let iters = ((5e6 / probe) as usize).clamp(10, 100_000);
                let (mut r, mut p, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..rounds {
                    let raw_ns = time_batch(iters, || raw.wait());
                    let ours_ns = time_batch(iters, || {
                        poller.wait(&mut events, Some(Duration::ZERO)).unwrap_or(0)
                    });
                    r.push(raw_ns);
                    p.push(ours_ns);
                    ratios.push(ours_ns / raw_ns);
                }
                let (r, p, ratio) = (median(&mut r), median(&mut p), median(&mut ratios));
                println!(
                    "{:<7} {:>6} {:>4} {:>12.0} {:>12.0} {:>7.3}",
                    backend.name(),
                    n,
                    k,
                    r,
                    p,
                    ratio
                );
            }
        }
    }
    Ok(())
}

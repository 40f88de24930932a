//! One bare `Poller::wait` (timeout zero) over N eventfds of which K are
//! ready, against the raw syscall a C programmer would write on the same
//! fds. Raw and Poller batches alternate in one run; medians are compared.
//!
//! The raw loops do the least any caller must do to learn which fds are
//! ready, ending, like `Poller::wait`, with an array of (fd, readiness):
//! epoll_wait writes it itself; after poll, a scan of `revents` until all `n`
//! ready entries are found, copying each out; for select, a copy of the
//! master read set before the call and a scan of the result bitmap after.
//!
//! With `--oneshot` the fds are registered oneshot, and each timed cycle is
//! one wait plus the re-arming of every fd it reported: `Poller::modify` on
//! our side; on the raw side `epoll_ctl(EPOLL_CTL_MOD, EPOLLIN |
//! EPOLLONESHOT)` for epoll (and io_uring, timed against raw epoll as
//! above), and for poll and select the store that puts the entry back in
//! the caller's array (they have no re-arm syscall). A second pair of
//! batches times the re-arm phase alone (the clock read after the wait and
//! after the re-arms), `Poller::modify` against `epoll_ctl(EPOLL_CTL_MOD)`,
//! the one syscall that re-arms a oneshot registration, on every backend.
//! Both follow the same wait (the backend's raw one on the raw side), so
//! that both find the caches as a scan of N fds leaves them.

use std::hint::black_box;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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
        /// The fd behind each registration's data (its index).
        fds: Vec<RawFd>,
        /// Registered with EPOLLONESHOT.
        oneshot: bool,
        /// How many events the last wait returned.
        last: usize,
    },
    Poll {
        fds: Vec<libc::pollfd>,
        out: Vec<(i32, i16)>,
        /// The index of each fd's entry in `fds`, by fd number.
        index: Vec<usize>,
    },
    Select {
        master: Vec<u64>,
        work: Vec<u64>,
        nfds: i32,
        out: Vec<(i32, i16)>,
    },
}

impl Raw {
    fn new(backend: Backend, fds: &[OwnedFd], oneshot: bool) -> io::Result<Raw> {
        Ok(match backend {
            Backend::Poll => Raw::Poll {
                index: {
                    let max = fds.iter().map(|f| f.as_raw_fd()).max().unwrap_or(0);
                    let mut index = vec![0; max as usize + 1];
                    for (i, f) in fds.iter().enumerate() {
                        index[f.as_raw_fd() as usize] = i;
                    }
                    index
                },
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
                use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
                let epfd = epoll::create(CreateFlags::CLOEXEC)?;
                let flags = if oneshot {
                    EventFlags::IN | EventFlags::ONESHOT
                } else {
                    EventFlags::IN
                };
                for (i, f) in fds.iter().enumerate() {
                    epoll::add(&epfd, f, EventData::new_u64(i as u64), flags)?;
                }
                Raw::Epoll {
                    epfd,
                    buf: vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY],
                    fds: fds.iter().map(|f| f.as_raw_fd()).collect(),
                    oneshot,
                    last: 0,
                }
            }
            // `Backend` is non-exhaustive: a backend added later has no
            // raw counterpart here until one is written.
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("pipes --wait: no raw syscall for {other}"),
                ));
            }
        })
    }

    /// Re-arms every fd the last wait reported with `epoll_ctl(EPOLL_CTL_MOD)`
    /// on `epoll` (which holds every fd, oneshot), whatever this backend:
    /// the raw re-arm syscall, after this backend's raw wait. Returns how many.
    fn rearm_with_mod(&mut self, epoll: &mut Raw) -> usize {
        let Raw::Epoll { epfd, .. } = epoll else {
            unreachable!("the re-arm reference is an epoll instance")
        };
        let mod_one = |fd: RawFd| {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
                u64: fd as u64,
            };
            // SAFETY: `ev` is a valid epoll_event for the call; the fd is
            // open (the caller owns it).
            unsafe { libc::epoll_ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_MOD, fd, &mut ev) };
        };
        match self {
            Raw::Epoll { .. } => self.rearm(),
            Raw::Poll { out, .. } | Raw::Select { out, .. } => {
                for &(fd, _) in out.iter() {
                    mod_one(fd);
                }
                out.len()
            }
        }
    }

    /// Re-arms every fd the last wait reported, as a oneshot caller must;
    /// returns how many. epoll: one `epoll_ctl(EPOLL_CTL_MOD)` each; poll
    /// and select: the entry or bit put back in the caller's own array.
    fn rearm(&mut self) -> usize {
        match self {
            Raw::Epoll {
                epfd,
                buf,
                fds,
                oneshot,
                last,
            } => {
                let events = if *oneshot {
                    (libc::EPOLLIN | libc::EPOLLONESHOT) as u32
                } else {
                    libc::EPOLLIN as u32
                };
                for ev in &buf[..*last] {
                    let i = ev.u64;
                    let mut new = libc::epoll_event { events, u64: i };
                    // SAFETY: `new` is a valid epoll_event for the call; the
                    // fd is open (the caller owns `fds`).
                    unsafe {
                        libc::epoll_ctl(
                            epfd.as_raw_fd(),
                            libc::EPOLL_CTL_MOD,
                            fds[i as usize],
                            &mut new,
                        )
                    };
                }
                *last
            }
            Raw::Poll { fds, out, index } => {
                for &(fd, _) in out.iter() {
                    fds[index[fd as usize]].fd = fd;
                }
                out.len()
            }
            Raw::Select { master, out, .. } => {
                for &(fd, _) in out.iter() {
                    master[fd as usize / 64] |= 1 << (fd % 64);
                }
                out.len()
            }
        }
    }

    /// One raw wait with timeout zero; returns how many fds were ready.
    fn wait(&mut self) -> usize {
        match self {
            Raw::Epoll {
                epfd, buf, last, ..
            } => {
                // SAFETY: `buf` holds CAPACITY epoll_events the kernel may fill.
                let n = unsafe {
                    libc::epoll_wait(epfd.as_raw_fd(), buf.as_mut_ptr(), CAPACITY as i32, 0)
                };
                *last = n.max(0) as usize;
                *last
            }
            Raw::Poll { fds, out, .. } => {
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

/// Times `iters` cycles of `wait` then `rearm`, with the clock read around
/// the re-arm phase only; returns ns per re-arm call.
fn time_rearm<S>(
    iters: usize,
    state: &mut S,
    mut wait: impl FnMut(&mut S) -> usize,
    mut rearm: impl FnMut(&mut S) -> usize,
) -> f64 {
    let mut spent = Duration::ZERO;
    let mut calls = 0;
    for _ in 0..iters {
        black_box(wait(state));
        let start = Instant::now();
        calls += rearm(state);
        spent += start.elapsed();
    }
    spent.as_nanos() as f64 / calls.max(1) as f64
}

/// Re-arms every fd `events` reported, through `Poller::modify`; returns how many.
fn poller_rearm(poller: &Poller, events: &Events, fds: &[OwnedFd]) -> usize {
    let mut n = 0;
    for ev in events.iter() {
        let token = ev.token();
        if poller
            .modify(&fds[token.0], token, Interest::READABLE, Mode::Oneshot)
            .is_ok()
        {
            n += 1;
        }
    }
    n
}

pub(super) fn run(args: &PipesArgs, backends: &[Backend]) -> CliResult {
    let sizes = args
        .fds
        .clone()
        .unwrap_or_else(|| vec![100, 1000, 10_000, 19_000]);
    let readies = args.active.clone().unwrap_or_else(|| vec![1, 100]);
    let rounds = args.runs.max(3);
    let oneshot = args.oneshot;
    let mode = if oneshot { Mode::Oneshot } else { Mode::Level };
    if oneshot {
        println!(
            "pipes --wait --oneshot: one wait, timeout 0, N eventfds watched oneshot, K ready, then every reported fd re-armed; \
             re-arm = Poller::modify against epoll_ctl(EPOLL_CTL_MOD) after the same wait, ns per call; ratios = medians of {rounds} alternating rounds"
        );
        println!(
            "{:<7} {:>6} {:>4} {:>12} {:>12} {:>7} {:>10} {:>10} {:>7}",
            "backend", "N", "K", "raw ns", "Poller ns", "ratio", "MOD ns", "modify ns", "ratio"
        );
    } else {
        println!(
            "pipes --wait: one wait, timeout 0, N eventfds watched, K ready; ratio = median of {rounds} alternating rounds"
        );
        println!(
            "{:<7} {:>6} {:>4} {:>12} {:>12} {:>7}",
            "backend", "N", "K", "raw ns", "Poller ns", "ratio"
        );
    }
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
                poller.register(f, Token(i), Interest::READABLE, mode)?;
            }
            let mut raw = Raw::new(backend, &fds, oneshot)?;
            // The raw re-arm syscall, timed beside every backend.
            let mut raw_mod = if oneshot {
                Some(Raw::new(Backend::Epoll, &fds, true)?)
            } else {
                None
            };
            let mut events = Events::with_capacity(CAPACITY);
            for &k in &readies {
                // More ready fds than fds: all of them.
                let k = k.min(n);
                set_ready(&fds, k)?;
                let expect = k;
                let got = raw.wait();
                let ours = poller.wait(&mut events, Some(Duration::ZERO))?;
                if oneshot {
                    raw.rearm();
                    poller_rearm(&poller, &events, &fds);
                }
                if got != expect || ours != expect {
                    return Err(format!(
                        "{backend} N={n} K={k}: raw saw {got}, Poller saw {ours}, expected {expect}"
                    )
                    .into());
                }
                // About 5 ms per batch; raw and Poller batches alternate, and
                // the ratio is the median of the per-round ratios, which
                // cancels most of a noisy machine's drift.
                let probe = if oneshot {
                    time_batch(20, || raw.wait() + raw.rearm())
                } else {
                    time_batch(20, || raw.wait())
                };
                let probe = probe.max(50.0);
                let iters = ((5e6 / probe) as usize).clamp(10, 100_000);
                let (mut r, mut p, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
                let (mut rm, mut pm, mut mratios) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..rounds {
                    let (raw_ns, ours_ns) = if oneshot {
                        let raw_ns = time_batch(iters, || raw.wait() + raw.rearm());
                        let ours_ns = time_batch(iters, || {
                            poller.wait(&mut events, Some(Duration::ZERO)).unwrap_or(0);
                            poller_rearm(&poller, &events, &fds)
                        });
                        (raw_ns, ours_ns)
                    } else {
                        let raw_ns = time_batch(iters, || raw.wait());
                        let ours_ns = time_batch(iters, || {
                            poller.wait(&mut events, Some(Duration::ZERO)).unwrap_or(0)
                        });
                        (raw_ns, ours_ns)
                    };
                    r.push(raw_ns);
                    p.push(ours_ns);
                    ratios.push(ours_ns / raw_ns);
                    if let Some(raw_mod) = raw_mod.as_mut() {
                        let mod_ns = time_rearm(
                            iters,
                            &mut (&mut raw, raw_mod),
                            |(raw, _)| raw.wait(),
                            |(raw, raw_mod)| raw.rearm_with_mod(raw_mod),
                        );
                        let modify_ns = time_rearm(
                            iters,
                            &mut events,
                            |ev| poller.wait(ev, Some(Duration::ZERO)).unwrap_or(0),
                            |ev| poller_rearm(&poller, ev, &fds),
                        );
                        rm.push(mod_ns);
                        pm.push(modify_ns);
                        mratios.push(modify_ns / mod_ns);
                    }
                }
                let (r, p, ratio) = (median(&mut r), median(&mut p), median(&mut ratios));
                if oneshot {
                    let (rm, pm, mratio) = (median(&mut rm), median(&mut pm), median(&mut mratios));
                    println!(
                        "{:<7} {:>6} {:>4} {:>12.0} {:>12.0} {:>7.3} {:>10.0} {:>10.0} {:>7.3}",
                        backend.name(),
                        n,
                        k,
                        r,
                        p,
                        ratio,
                        rm,
                        pm,
                        mratio
                    );
                } else {
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
    }
    Ok(())
}

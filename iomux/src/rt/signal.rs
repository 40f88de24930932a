//! Unix signals as streams: [`signal`] for any signal (`SIGTERM`, `SIGHUP`,
//! `SIGUSR1`, ...), [`ctrl_c`] for `SIGINT`. Every [`Signal`] listening
//! for a signal sees each delivery, whichever runtime (or thread) it is
//! polled on, so every runtime of a [`group`](super::group) can listen.
//!
//! # How signals arrive
//!
//! A signal for the process goes to any one of its threads that does not
//! block it, and if that thread runs the default action (for `SIGTERM`:
//! terminate) the process dies. A `signalfd` only reads signals that are
//! blocked, so it is sound only if *every* thread blocks the signal, and
//! threads made before the first listener (the main thread, a test
//! harness's, a library's) cannot be made to. So this module does not rely
//! on that:
//!
//! - One thread, `iomux-signal`, started at the first listener, blocks
//!   every signal and reads a `signalfd` whose mask holds each signal
//!   listened for; it wakes every listener of what it reads.
//! - For each signal listened for, a process-wide handler is installed
//!   (`sigaction`). Whichever thread the kernel picks runs it, and all it
//!   does is send the signal on to the `iomux-signal` thread (`tgkill`),
//!   where it is pending (blocked) and the `signalfd` reads it. The default
//!   action never runs, whatever the mask of the thread that was picked.
//!
//! What follows from it:
//!
//! - Once a signal has had a listener, the handler stays for the life of
//!   the process: the default action does not come back when the last
//!   [`Signal`] is dropped (a `SIGTERM` then does nothing). A handler that
//!   someone else installed before is replaced (a `warn` log says so).
//! - Deliveries coalesce: a listener that has not looked since the last
//!   one sees one signal for several (and the kernel merges a standard
//!   signal already pending).
//! - A listener sees the signals that arrive after it was made.
//! - Not after `fork` (the child has no `iomux-signal` thread: the handler
//!   it inherits forwards to nothing); `exec` restores the defaults.
//! - `SIGKILL`, `SIGSTOP`, and the faults `SIGSEGV`, `SIGBUS`, `SIGILL`,
//!   `SIGFPE` cannot be listened for.
//!
//! ```no_run
//! use iomux::rt::{self, signal::{self, SignalKind}};
//!
//! rt::block_on(async {
//!     let mut hup = signal::signal(SignalKind::hangup())?;
//!     loop {
//!         hup.recv().await;
//!         println!("reloading the configuration");
//!     }
//!     # #[allow(unreachable_code)]
//!     Ok::<(), std::io::Error>(())
//! })??;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Not for: running user code in signal context (a listener is woken as a
//! task), reaping children (a `SIGCHLD` listener is told, nothing more), or
//! restoring the default action once a signal has had a listener.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::thread;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A signal number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by number (`libc::SIGWINCH`, `libc::SIGRTMIN() + 1`, ...).
    pub const fn from_raw(signo: i32) -> SignalKind {
        SignalKind(signo)
    }
    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
    /// `SIGINT` (Ctrl-C in a terminal).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }
    /// `SIGTERM` (the polite "stop": `kill`, systemd, Kubernetes).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }
    /// `SIGHUP` (the terminal went away; by custom, "reload").
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }
    /// `SIGQUIT`.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }
    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }
    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }
    /// `SIGCHLD`.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }
    /// `SIGWINCH`.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
    /// `SIGPIPE`.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }
    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGWINCH => "SIGWINCH",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            n => return write!(f, "signal {n}"),
        };
        f.write_str(name)
    }
}

/// One listener: how many deliveries it has had, and who waits.
pub(crate) struct Listener {
    count: AtomicU64,
    waker: Mutex<Option<Waker>>,
    /// Run on the `iomux-signal` thread at each delivery.
    action: Option<Box<dyn Fn() + Send + Sync>>,
}

impl Listener {
    fn deliver(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        if let Some(action) = &self.action {
            action();
        }
        let waker = lock(&self.waker).take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The `iomux-signal` thread's side: its signalfd, the signals it reads,
/// and who listens for each.
struct Dispatcher {
    sfd: OwnedFd,
    /// The signals with a handler installed (the signalfd's mask).
    mask: Mutex<libc::sigset_t>,
    listeners: Mutex<HashMap<i32, Vec<Weak<Listener>>>>,
}

static DISPATCHER: OnceLock<Result<Arc<Dispatcher>, String>> = OnceLock::new();
/// The `iomux-signal` thread's id, for the handler (0 until it runs).
static SIGNAL_TID: AtomicI32 = AtomicI32::new(0);

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t we own.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

fn dispatcher() -> io::Result<Arc<Dispatcher>> {
    match DISPATCHER.get_or_init(|| start().map_err(|e| e.to_string())) {
        Ok(d) => Ok(Arc::clone(d)),
        Err(e) => Err(io::Error::other(format!(
            "iomux::rt::signal: cannot start the signal thread: {e}"
        ))),
    }
}

fn start() -> io::Result<Arc<Dispatcher>> {
    let empty = empty_set();
    // SAFETY: a new signalfd (fd -1) with a valid, empty mask.
    let fd = unsafe { libc::signalfd(-1, &empty, libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just made, and nothing else owns it.
    let sfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let d = Arc::new(Dispatcher {
        sfd,
        mask: Mutex::new(empty),
        listeners: Mutex::new(HashMap::new()),
    });
    // The thread inherits this thread's mask: make it "everything blocked"
    // around the spawn, then put ours back.
    let mut all = empty_set();
    // SAFETY: sigfillset fills a sigset_t we own.
    unsafe { libc::sigfillset(&mut all) };
    let mut old = empty_set();
    // SAFETY: valid sets; changes only this thread's mask.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = Arc::clone(&d);
    let spawned = thread::Builder::new()
        .name("iomux-signal".into())
        .spawn(move || {
            SIGNAL_TID.store(
                rustix::thread::gettid().as_raw_nonzero().get(),
                Ordering::Release,
            );
            let _ = tx.send(());
            read_loop(&worker);
        });
    // SAFETY: puts back the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned?;
    rx.recv()
        .map_err(|_| io::Error::other("the signal thread ended at its start"))?;
    Ok(d)
}

/// The `iomux-signal` thread: reads what the signalfd has, wakes the
/// listeners.
fn read_loop(d: &Dispatcher) {
    // struct signalfd_siginfo: 128 bytes, the signal number first.
    const SIZE: usize = 128;
    let mut buf = [0u8; SIZE * 16];
    loop {
        match rustix::io::read(&d.sfd, &mut buf) {
            Ok(n) => {
                for info in buf[..n].chunks_exact(SIZE) {
                    let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32;
                    d.deliver(signo);
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                log::error!("iomux::rt::signal: reading the signalfd failed, no more signals: {e}");
                return;
            }
        }
    }
}

impl Dispatcher {
    fn deliver(&self, signo: i32) {
        let live: Vec<Arc<Listener>> = {
            let mut all = lock(&self.listeners);
            let Some(list) = all.get_mut(&signo) else {
                return;
            };
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        log::debug!(
            "iomux::rt::signal: {:?} to {} listener(s)",
            SignalKind(signo),
            live.len()
        );
        for l in live {
            l.deliver();
        }
    }

    /// Makes sure `signo` is read by the signalfd and caught by the
    /// forwarding handler.
    fn install(&self, signo: i32) -> io::Result<()> {
        let mut mask = lock(&self.mask);
        // SAFETY: a valid, initialised set.
        if unsafe { libc::sigismember(&*mask, signo) } == 1 {
            return Ok(());
        }
        let mut next = *mask;
        // SAFETY: a valid set; the number was checked by the caller.
        if unsafe { libc::sigaddset(&mut next, signo) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: updates the mask of our own signalfd.
        if unsafe { libc::signalfd(std::os::fd::AsRawFd::as_raw_fd(&self.sfd), &next, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sigaction is plain data, zero is a valid start.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = forward as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: a valid set in the struct we own.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: installs `forward`, which is async-signal-safe (below),
        // for a signal that may be caught.
        if unsafe { libc::sigaction(signo, &sa, &mut old) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            log::warn!(
                "iomux::rt::signal: replaced the handler of {:?} that was installed before",
                SignalKind(signo)
            );
        }
        *mask = next;
        Ok(())
    }
}

/// The process-wide handler: sends the signal on to the `iomux-signal`
/// thread, which blocks it, so that its signalfd reads it. Only
/// async-signal-safe calls (`getpid`, `tgkill`), and errno is kept.
extern "C" fn forward(signo: libc::c_int) {
    // SAFETY: errno's location is this thread's, always valid.
    let errno = unsafe { *libc::__errno_location() };
    let tid = SIGNAL_TID.load(Ordering::Acquire);
    if tid > 0 {
        // SAFETY: tgkill takes plain integers; a thread id that is gone
        // (after fork) only fails with ESRCH.
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, signo) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

fn check(kind: SignalKind) -> io::Result<()> {
    let n = kind.0;
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if n <= 0 || n > libc::SIGRTMAX() || forbidden.contains(&n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("iomux::rt::signal: {kind:?} cannot be listened for"),
        ));
    }
    Ok(())
}

/// Adds a listener for `kind` (with `action` run at each delivery).
pub(crate) fn listen(
    kind: SignalKind,
    action: Option<Box<dyn Fn() + Send + Sync>>,
) -> io::Result<Arc<Listener>> {
    check(kind)?;
    let d = dispatcher()?;
    let listener = Arc::new(Listener {
        count: AtomicU64::new(0),
        waker: Mutex::new(None),
        action,
    });
    {
        let mut all = lock(&d.listeners);
        let list = all.entry(kind.0).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&listener));
    }
    // After the listener is in place, so that a signal right after the
    // handler is installed finds it.
    d.install(kind.0)?;
    Ok(listener)
}

/// A stream of one signal's deliveries (see the [module](self)). `Send`:
/// it can be polled on any runtime, by one task at a time.
pub struct Signal {
    listener: Arc<Listener>,
    seen: u64,
    kind: SignalKind,
}

/// Listens for `kind` from now on.
///
/// ```no_run
/// use iomux::rt::{self, signal::{signal, SignalKind}};
///
/// rt::block_on(async {
///     let mut term = signal(SignalKind::terminate())?;
///     term.recv().await;
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    Ok(Signal {
        listener: listen(kind, None)?,
        seen: 0,
        kind,
    })
}

/// Resolves at the next `SIGINT` (Ctrl-C) after the call; the listener
/// is made by the call, not at the first poll.
///
/// ```no_run
/// use iomux::rt::{self, signal};
///
/// rt::block_on(async {
///     signal::ctrl_c().await?;
///     println!("interrupted, stopping");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send + 'static {
    let sig = signal(SignalKind::interrupt());
    async move {
        sig?.recv().await;
        Ok(())
    }
}

impl Signal {
    /// Waits for the next delivery (several since the last look count as
    /// one).
    pub async fn recv(&mut self) {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](Signal::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take() {
            return Poll::Ready(());
        }
        *lock(&self.listener.waker) = Some(cx.waker().clone());
        // A delivery between the first look and the waker's store.
        if self.take() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    fn take(&mut self) -> bool {
        let n = self.listener.count.load(Ordering::Acquire);
        if n != self.seen {
            self.seen = n;
            true
        } else {
            false
        }
    }

    /// The signal it listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl futures_core::Stream for Signal {
    type Item = ();
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx).map(Some)
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

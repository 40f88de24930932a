//! Clean shutdown on SIGINT and SIGTERM, for every model, and the signal
//! plumbing the models share.
//!
//! Two ways to hear the signal, one mask: SIGINT and SIGTERM are blocked
//! in the main thread before any other starts, so no handler ever runs and
//! no syscall is interrupted.
//! - [`Shutdown::install`] (the reactor on either driver, so also uring;
//!   the blocking and non-blocking models): blocks both signals in
//!   the calling thread and starts one thread that waits for them with
//!   sigwaitinfo(2). When one arrives it sets a flag (for polling models:
//!   [`Shutdown::requested`]) and runs the callbacks given to
//!   [`Shutdown::on_signal`] (start the graceful stop). A second signal
//!   exits the process at once.
//! - [`signal_set`] and [`block`] for models that take more signals
//!   synchronously themselves (sigio's real-time signals).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Callback = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    fired: AtomicBool,
    callbacks: Mutex<Vec<Callback>>,
}

/// The process's shutdown signal. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    state: Arc<State>,
}

/// A signal set holding `signals`.
pub fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset only writes into it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks `set` in the calling thread (and so in the threads it starts).
pub fn block(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is a valid sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// The name of a stop signal.
fn signal_name(sig: libc::c_int) -> &'static str {
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Waits for another signal of `set` (the first one started a graceful
/// stop) and exits the process at once, status 0: the operator asked twice.
fn exit_on_second(set: &libc::sigset_t) -> ! {
    let mut sig = 0;
    // SAFETY: `set` is an initialised sigset_t and `sig` a valid out-pointer.
    while unsafe { libc::sigwait(set, &mut sig) } != 0 {}
    eprintln!(
        "iomux: second {}, exiting without waiting for the drain",
        signal_name(sig)
    );
    std::process::exit(0);
}

/// Prints the graceful stop's outcome: how many connections were still
/// open when the shutdown timeout passed (0 when every one finished).
pub fn report_cut(cut: u64, grace: std::time::Duration) {
    eprintln!("iomux: shutdown: {cut} connections cut at the {grace:?} shutdown timeout");
}

/// SIGINT and SIGTERM.
fn stop_signals() -> libc::sigset_t {
    signal_set(&[libc::SIGINT, libc::SIGTERM])
}

impl Shutdown {
    /// Blocks SIGINT and SIGTERM and starts the thread that waits for them.
    pub fn install() -> io::Result<Shutdown> {
        let set = stop_signals();
        block(&set)?;
        let shutdown = Shutdown {
            state: Arc::new(State::default()),
        };
        let waiter = shutdown.clone();
        std::thread::Builder::new()
            .name("iomux-signals".into())
            .spawn(move || {
                let sig = loop {
                    // SAFETY: `set` is initialised; a null siginfo pointer is allowed.
                    let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
                    if sig > 0 {
                        break sig;
                    }
                };
                eprintln!("iomux: {}, shutting down", signal_name(sig));
                waiter.fire();
                exit_on_second(&set);
            })?;
        Ok(shutdown)
    }

    /// True once a signal has arrived.
    pub fn requested(&self) -> bool {
        self.state.fired.load(Ordering::Acquire)
    }

    /// Runs `callback` (on the signal thread) when a signal arrives, or now
    /// if one has arrived already.
    pub fn on_signal(&self, callback: impl FnOnce() + Send + 'static) {
        let mut callbacks = self.state.callbacks.lock().unwrap();
        if self.requested() {
            drop(callbacks);
            callback();
        } else {
            callbacks.push(Box::new(callback));
        }
    }

    /// Acts as if a signal had arrived.
    pub fn fire(&self) {
        let callbacks = {
            let mut list = self.state.callbacks.lock().unwrap();
            self.state.fired.store(true, Ordering::Release);
            std::mem::take(&mut *list)
        };
        for c in callbacks {
            c();
        }
    }
}

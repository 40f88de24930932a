//! Clean shutdown on SIGINT and SIGTERM, for every model.
//!
//! [`Shutdown::install`] blocks both signals in the calling thread — call it
//! before starting any thread, so that every thread inherits the mask and
//! no handler ever interrupts a syscall — and starts one thread that waits
//! for them with sigwaitinfo(2). When one arrives it sets a flag (for
//! polling models: [`Shutdown::requested`]) and runs the callbacks given to
//! [`Shutdown::on_signal`] (for blocking ones: stop the loops, close the
//! listener).

use std::io;
use std::mem::MaybeUninit;
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

fn signal_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset then
    // adds valid signal numbers to that initialised set.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}

impl Shutdown {
    /// Blocks SIGINT and SIGTERM and starts the thread that waits for them.
    pub fn install() -> io::Result<Shutdown> {
        let set = signal_set()?;
        // SAFETY: `set` is an initialised sigset_t; a null old-set pointer
        // is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
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
                let name = if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                eprintln!("iomux: {name}, shutting down");
                waiter.fire();
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

//! Stopping a server gracefully: a [`Shutdown`] token, shared by every
//! runtime of a group ([`group::run_with_shutdown`](super::group::run_with_shutdown)),
//! triggered by hand or by a signal; [`Connections`] on each runtime to
//! let the open connections finish and [report](Report) what had to be cut.
//!
//! ```no_run
//! use std::time::Duration;
//! use iomux::rt::{self, DriverKind, group, net::TcpListener};
//! use iomux::rt::shutdown::{Connections, Shutdown};
//! use iomux::rt::signal::SignalKind;
//!
//! let shutdown = Shutdown::new();
//! shutdown.on_signal(SignalKind::terminate())?;
//! shutdown.on_signal(SignalKind::interrupt())?;
//! let addr: std::net::SocketAddr = "127.0.0.1:8080".parse()?;
//! let reports = group::run_with_shutdown(2, DriverKind::Uring, &shutdown, move |_, shutdown| async move {
//!     let listener = TcpListener::bind_reuseport(addr)?;
//!     let conns = Connections::new();
//!     // `until` gives None once the shutdown is triggered: stop accepting.
//!     while let Some(accepted) = shutdown.until(listener.accept()).await {
//!         let (mut conn, peer) = accepted?;
//!         conns.spawn(peer.to_string(), async move {
//!             let mut buf = [0u8; 1024];
//!             while let Ok(n) = conn.read(&mut buf).await {
//!                 if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         });
//!     }
//!     drop(listener); // new connections are refused from here on
//!     Ok(conns.drain(Duration::from_secs(10)).await)
//! })?;
//! for (i, report) in reports.iter().enumerate() {
//!     println!("runtime {i}: {report}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Not for: the reactor's graceful stop
//! ([`EventLoop::shutdown_gracefully`](crate::reactor::EventLoop::shutdown_gracefully)),
//! nor for killing tasks: connections are let finish, and what is left at
//! the deadline is reported and dropped.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::JoinHandle;
use super::signal::{self, Listener, SignalKind};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A token that says "stop": cheap to clone, `Send` and `Sync`, awaited
/// on any number of runtimes. Once triggered it stays triggered.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    waiters: Mutex<Waiters>,
    /// The signal listeners that trigger it (their actions hold a weak
    /// reference, so no cycle).
    signals: Mutex<Vec<Arc<Listener>>>,
}

#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Inner {
    fn trigger(&self) {
        let wakers: Vec<Waker> = {
            let mut w = lock(&self.waiters);
            if self.triggered.swap(true, Ordering::AcqRel) {
                return;
            }
            w.free.clear();
            w.slots.drain(..).flatten().collect()
        };
        for w in wakers {
            w.wake();
        }
    }
}

impl Shutdown {
    /// A token not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Triggers it at the first `kind` signal from now on (see
    /// [`signal`](mod@super::signal) for what listening for a signal implies).
    pub fn on_signal(&self, kind: SignalKind) -> io::Result<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let listener = signal::listen(
            kind,
            Some(Box::new(move || {
                if let Some(inner) = weak.upgrade() {
                    log::info!("iomux::rt::shutdown: {kind:?} received, shutting down");
                    inner.trigger();
                }
            })),
        )?;
        lock(&self.inner.signals).push(listener);
        Ok(())
    }

    /// Triggers it (from any thread; again does nothing).
    pub fn trigger(&self) {
        self.inner.trigger();
    }

    /// Whether it has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Resolves once it is triggered.
    pub fn triggered(&self) -> Triggered {
        Triggered {
            inner: Arc::clone(&self.inner),
            slot: None,
        }
    }

    /// Runs `future` until it ends (`Some(output)`) or the token is
    /// triggered (`None`, and `future` is dropped). Already triggered,
    /// `future` is not polled at all: a loop on `until(listener.accept())`
    /// takes no connection after the shutdown.
    pub async fn until<F: Future>(&self, future: F) -> Option<F::Output> {
        let mut future = pin!(future);
        let mut triggered = pin!(self.triggered());
        poll_fn(|cx| {
            if triggered.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            future.as_mut().poll(cx).map(Some)
        })
        .await
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("triggered", &self.is_triggered())
            .finish()
    }
}

/// The future of [`Shutdown::triggered`].
pub struct Triggered {
    inner: Arc<Inner>,
    slot: Option<usize>,
}

impl Future for Triggered {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut w = lock(&this.inner.waiters);
        if this.inner.triggered.load(Ordering::Acquire) {
            this.slot = None;
            return Poll::Ready(());
        }
        match this.slot {
            Some(i) => match &mut w.slots[i] {
                Some(old) if old.will_wake(cx.waker()) => {}
                s => *s = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let i = match w.free.pop() {
                    Some(i) => {
                        w.slots[i] = waker;
                        i
                    }
                    None => {
                        w.slots.push(waker);
                        w.slots.len() - 1
                    }
                };
                this.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Triggered {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            let mut w = lock(&self.inner.waiters);
            // Triggering cleared the slots: only a live slot is freed.
            if let Some(s) = w.slots.get_mut(i)
                && s.take().is_some()
            {
                w.free.push(i);
            }
        }
    }
}

impl fmt::Debug for Triggered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Triggered").finish_non_exhaustive()
    }
}

/// The connections (or any tasks) of one runtime that a shutdown should
/// let finish: [`spawn`](Connections::spawn) them here, then
/// [`drain`](Connections::drain). Not `Send`: one per runtime.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Rc<RefCell<Tracked>>,
}

#[derive(Default)]
struct Tracked {
    live: BTreeMap<u64, (String, JoinHandle<()>)>,
    next: u64,
    finished: usize,
    drainer: Option<Waker>,
}

/// Removes a task from its set when it ends on its own.
struct Untrack {
    set: Rc<RefCell<Tracked>>,
    id: u64,
}

impl Drop for Untrack {
    fn drop(&mut self) {
        let Ok(mut t) = self.set.try_borrow_mut() else {
            return;
        };
        // A task cut by `drain` was removed already.
        if t.live.remove(&self.id).is_some() {
            t.finished += 1;
            if t.live.is_empty()
                && let Some(w) = t.drainer.take()
            {
                w.wake();
            }
        }
    }
}

impl Connections {
    /// An empty set.
    pub fn new() -> Connections {
        Connections::default()
    }

    /// Spawns `future` on the current runtime ([`spawn_local`](super::spawn_local))
    /// as one of the set; `name` (the peer's address, say) is what a
    /// [`Report`] calls it if it is cut.
    ///
    /// # Panics
    /// Outside a runtime.
    pub fn spawn(&self, name: impl Into<String>, future: impl Future<Output = ()> + 'static) {
        let id = {
            let mut t = self.inner.borrow_mut();
            t.next += 1;
            t.next
        };
        let untrack = Untrack {
            set: Rc::clone(&self.inner),
            id,
        };
        let handle = super::spawn_local(async move {
            let _untrack = untrack;
            future.await;
        });
        // A future that ended at once has no entry to remove: skip it.
        if !handle.is_finished() {
            self.inner
                .borrow_mut()
                .live
                .insert(id, (name.into(), handle));
        }
    }

    /// How many are still running.
    pub fn len(&self) -> usize {
        self.inner.borrow().live.len()
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `grace` for every task of the set to end, then aborts
    /// those still running, and reports both. Spawn nothing more after.
    pub async fn drain(&self, grace: Duration) -> Report {
        let all_done = poll_fn(|cx| {
            let mut t = self.inner.borrow_mut();
            if t.live.is_empty() {
                Poll::Ready(())
            } else {
                t.drainer = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let cut = match super::time::timeout(grace, all_done).await {
            Ok(()) => Vec::new(),
            Err(_) => {
                let live = std::mem::take(&mut self.inner.borrow_mut().live);
                live.into_values()
                    .map(|(name, handle)| {
                        handle.abort();
                        name
                    })
                    .collect()
            }
        };
        let finished = std::mem::take(&mut self.inner.borrow_mut().finished);
        let report = Report { finished, cut };
        if report.cut.is_empty() {
            log::info!("iomux::rt::shutdown: {report}");
        } else {
            log::warn!("iomux::rt::shutdown: {report} (after {grace:?})");
        }
        report
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("live", &self.len())
            .finish()
    }
}

/// What [`Connections::drain`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Tasks that ended on their own (since the last drain).
    pub finished: usize,
    /// The names of the tasks still running at the end of the grace
    /// period, which were aborted.
    pub cut: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} finished, {} cut", self.finished, self.cut.len())?;
        if !self.cut.is_empty() {
            write!(f, " ({})", self.cut.join(", "))?;
        }
        Ok(())
    }
}

//! The executor: one per thread. A run queue of task keys, a slab of
//! tasks, the I/O driver and the timers, all owned by the thread (`Core`);
//! only what other threads touch (their wakes, their spawns, the unpark)
//! lives in `Shared`.
//!
//! A turn runs up to `BATCH` queued tasks, then asks the driver for I/O:
//! without blocking while tasks are still queued (so that I/O is never
//! starved by busy tasks), blocking until the next timer otherwise. Then
//! the timers that are due fire, and what other threads sent is queued.
//!
//! Not for: moving tasks between threads (no work stealing): a task spawned
//! on a runtime runs there until it ends.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::driver::{Driver, Unpark};
use super::task::{JoinHandle, TaskWaker, wrap};
use super::time::Timers;
use crate::slab::{Key, Slab};

/// Tasks run per turn before the driver is asked for I/O.
const BATCH: usize = 128;
/// The key of the future given to `block_on`.
const MAIN: Key = u64::MAX;

type LocalTask = Pin<Box<dyn Future<Output = ()>>>;
type SendTask = Pin<Box<dyn Future<Output = ()> + Send>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// What the task being polled may still do (see [`poll_budget`]).
    static BUDGET: std::cell::Cell<u32> = const { std::cell::Cell::new(u32::MAX) };
    /// The id of the runtime running on this thread (0: none), for the
    /// cheap check of [`assert_polled_on`].
    static CURRENT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Panics when an I/O object of runtime `id` is polled anywhere but inside
/// that runtime: its events are delivered to its own driver only, so the
/// task would otherwise hang without a word.
pub(crate) fn assert_polled_on(id: u64) {
    let current = CURRENT_ID.with(Cell::get);
    if current != id {
        let where_ = if current == 0 {
            "outside any runtime"
        } else {
            "inside another runtime"
        };
        panic!(
            "an iomux::rt I/O object was polled {where_}: it belongs to the runtime it was made on \
             (I/O objects are not Send and do not move between runtimes)"
        );
    }
}

/// I/O operations a task may make in one poll before it must yield
/// (tokio's coop budget): a connection whose socket never runs dry (a
/// flood that reads and writes full buffers) would otherwise never return
/// `Pending`, and the other tasks of its runtime would starve.
const IO_BUDGET: u32 = 128;

/// Runs one poll of a task with a fresh budget.
fn with_budget<R>(poll: impl FnOnce() -> R) -> R {
    let before = BUDGET.with(|b| b.replace(IO_BUDGET));
    let out = poll();
    BUDGET.with(|b| b.set(before));
    out
}

/// Spends one unit of the polled task's budget; when it is spent, wakes
/// `cx` (the task runs again after the others) and says `Pending`, before
/// any I/O is done. Outside a task's poll the budget is unlimited.
fn poll_budget(cx: &Context<'_>) -> Poll<()> {
    BUDGET.with(|b| match b.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        left => {
            b.set(left - 1);
            Poll::Ready(())
        }
    })
}

/// Runs an I/O operation under the task's budget: only progress spends it
/// (tokio's rule). An operation that comes back `Pending` gives its unit
/// back, so a task that looks at many idle sockets in one poll (a
/// `select_all`, a loop over connections) reaches the one that is ready.
pub(crate) fn coop<T>(
    cx: &mut Context<'_>,
    op: impl FnOnce(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    std::task::ready!(poll_budget(cx));
    let polled = op(cx);
    if polled.is_pending() {
        BUDGET.with(|b| {
            if b.get() != u32::MAX {
                b.set(b.get() + 1);
            }
        });
    }
    polled
}

/// What other threads reach: wakes of this runtime's tasks, futures spawned
/// through a [`Handle`](super::Handle), and the unpark of the driver.
pub(crate) struct Shared {
    id: u64,
    remote: Mutex<Vec<Key>>,
    inject: Mutex<Injected>,
    /// Set by the first remote wake or spawn since the runtime last looked:
    /// later ones skip the unpark syscall.
    notified: AtomicBool,
    /// Taken when the runtime is dropped: wakers, handles and join handles
    /// may outlive it by far, and must not keep its eventfd (and, through
    /// the Poller's waker, its epoll fd) open.
    unpark: Mutex<Option<Unpark>>,
}

#[derive(Default)]
struct Injected {
    tasks: Vec<SendTask>,
    closed: bool,
}

impl Shared {
    /// Queues task `key` to run: directly when called on the runtime's own
    /// thread, else through the remote queue and an unpark.
    pub(crate) fn schedule(&self, key: Key) {
        let local = CURRENT
            .try_with(|c| {
                let c = c.borrow();
                match c.as_ref() {
                    Some(core) if core.shared.id == self.id => {
                        if key == MAIN {
                            core.main_woken.set(true);
                        } else {
                            core.queue.borrow_mut().push_back(key);
                        }
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false);
        if !local {
            self.remote
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(key);
            self.notify();
        }
    }

    fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel)
            && let Some(unpark) = &*self.unpark.lock().unwrap_or_else(|e| e.into_inner())
            && let Err(e) = unpark.unpark()
        {
            log::error!("iomux::rt: cannot wake the runtime's thread: {e}");
        }
    }

    /// Hands a future to the runtime from any thread; `false` when the
    /// runtime is gone (the future is then dropped, and its handle reports
    /// cancellation).
    pub(crate) fn inject(&self, task: SendTask) -> bool {
        let mut inj = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if inj.closed {
            return false;
        }
        inj.tasks.push(task);
        drop(inj);
        self.notify();
        true
    }
}

struct Task {
    /// `None` while the task is being polled.
    future: Option<LocalTask>,
    header: Arc<TaskWaker>,
    waker: Waker,
}

/// The thread's runtime: everything but what `Shared` holds.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(crate) driver: RefCell<Driver>,
    pub(crate) timers: RefCell<Timers>,
    tasks: RefCell<Slab<Task>>,
    queue: RefCell<VecDeque<Key>>,
    main_woken: Cell<bool>,
    /// Wakers collected by the driver and the timers, woken after they let
    /// go of their state.
    wake_buf: RefCell<Vec<Waker>>,
}

impl Core {
    pub(crate) fn new(driver: Driver, unpark: Unpark) -> Rc<Core> {
        Rc::new(Core {
            shared: Arc::new(Shared {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                remote: Mutex::new(Vec::new()),
                inject: Mutex::new(Injected::default()),
                notified: AtomicBool::new(false),
                unpark: Mutex::new(Some(unpark)),
            }),
            driver: RefCell::new(driver),
            timers: RefCell::new(Timers::default()),
            tasks: RefCell::new(Slab::default()),
            queue: RefCell::new(VecDeque::new()),
            main_woken: Cell::new(false),
            wake_buf: RefCell::new(Vec::new()),
        })
    }

    /// This runtime's identity, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.shared.id
    }

    /// The runtime of this thread, if `block_on` is running here.
    pub(crate) fn current() -> Option<Rc<Core>> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// The runtime of this thread, or a panic that says what is wrong.
    pub(crate) fn expect_current(what: &str) -> Rc<Core> {
        Core::current().unwrap_or_else(|| {
            panic!("{what} must be called from inside an iomux::rt runtime (Runtime::block_on)")
        })
    }

    /// How many tasks are alive.
    pub(crate) fn tasks(&self) -> usize {
        self.tasks.borrow().len()
    }

    pub(crate) fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (task, parts) = wrap(future);
        self.insert(Box::pin(task));
        parts.into_handle()
    }

    pub(crate) fn spawn_send<F>(shared: &Shared, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, parts) = wrap(future);
        // When the runtime is gone the task is dropped here, unstarted,
        // and the handle reports it cancelled.
        shared.inject(Box::pin(task));
        parts.into_handle()
    }

    fn insert(&self, future: LocalTask) {
        let mut tasks = self.tasks.borrow_mut();
        let key = tasks.next_key();
        let header = Arc::new(TaskWaker {
            key,
            scheduled: AtomicBool::new(true),
            shared: Arc::clone(&self.shared),
        });
        let waker = Waker::from(Arc::clone(&header));
        let inserted = tasks.insert(Task {
            future: Some(future),
            header,
            waker,
        });
        debug_assert_eq!(inserted, key);
        self.queue.borrow_mut().push_back(key);
    }

    fn run_task(&self, key: Key) {
        let (mut future, waker) = {
            let mut tasks = self.tasks.borrow_mut();
            let Some(task) = tasks.get_mut(key) else {
                return; // a late wake of a task that has ended
            };
            let Some(future) = task.future.take() else {
                return;
            };
            task.header.scheduled.store(false, Ordering::Release);
            (future, task.waker.clone())
        };
        let mut cx = Context::from_waker(&waker);
        match with_budget(|| future.as_mut().poll(&mut cx)) {
            Poll::Ready(()) => {
                let task = self.tasks.borrow_mut().remove(key);
                drop(task);
                drop(future);
            }
            Poll::Pending => {
                if let Some(task) = self.tasks.borrow_mut().get_mut(key) {
                    task.future = Some(future);
                }
            }
        }
    }

    /// One look at I/O, timers and other threads: blocking until `deadline`
    /// (or the next timer) when `block` is set, else without blocking.
    fn turn(&self, block: bool) {
        let deadline = if block {
            self.timers.borrow_mut().next_deadline()
        } else {
            Some(Instant::now())
        };
        let mut wakers = std::mem::take(&mut *self.wake_buf.borrow_mut());
        let parked = self.driver.borrow_mut().park(deadline, &mut wakers);
        if let Err(e) = parked {
            log::error!("iomux::rt: waiting for I/O failed: {e}");
        }
        self.timers.borrow_mut().expire(Instant::now(), &mut wakers);
        for w in wakers.drain(..) {
            w.wake();
        }
        *self.wake_buf.borrow_mut() = wakers;
        if self.shared.notified.swap(false, Ordering::AcqRel) {
            let keys =
                std::mem::take(&mut *self.shared.remote.lock().unwrap_or_else(|e| e.into_inner()));
            let mut queue = self.queue.borrow_mut();
            for key in keys {
                if key == MAIN {
                    self.main_woken.set(true);
                } else {
                    queue.push_back(key);
                }
            }
            drop(queue);
            let injected = std::mem::take(
                &mut self
                    .shared
                    .inject
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .tasks,
            );
            for task in injected {
                self.insert(task);
            }
        }
    }

    /// Runs `future` to completion on this thread, with every task spawned
    /// meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Core>, future: F) -> F::Output {
        let _enter = Enter::new(self);
        let main = Arc::new(TaskWaker {
            key: MAIN,
            scheduled: AtomicBool::new(true),
            shared: Arc::clone(&self.shared),
        });
        let main_waker = Waker::from(Arc::clone(&main));
        let mut future = pin!(future);
        self.main_woken.set(true);
        loop {
            if self.main_woken.replace(false) {
                main.scheduled.store(false, Ordering::Release);
                let mut cx = Context::from_waker(&main_waker);
                if let Poll::Ready(v) = with_budget(|| future.as_mut().poll(&mut cx)) {
                    return v;
                }
            }
            for _ in 0..BATCH {
                let next = self.queue.borrow_mut().pop_front();
                match next {
                    Some(key) => self.run_task(key),
                    None => break,
                }
                if self.main_woken.get() {
                    break;
                }
            }
            let idle = self.queue.borrow().is_empty() && !self.main_woken.get();
            self.turn(idle);
        }
    }

    /// Drops every task (on this thread, so that their sockets deregister),
    /// and refuses what other threads spawn from now on.
    pub(crate) fn shutdown(self: &Rc<Core>) {
        let _enter = Enter::force(self);
        let injected = {
            let mut inj = self.shared.inject.lock().unwrap_or_else(|e| e.into_inner());
            inj.closed = true;
            std::mem::take(&mut inj.tasks)
        };
        drop(injected);
        // Dropping a task may spawn or drop others: repeat until none is left.
        loop {
            let tasks = self.tasks.borrow_mut().drain();
            if tasks.is_empty() {
                break;
            }
            drop(tasks);
        }
        self.queue.borrow_mut().clear();
        let unpark = self
            .shared
            .unpark
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(unpark);
    }
}

/// Makes a core the current one for the thread while it lives.
struct Enter {
    previous: Option<Rc<Core>>,
}

impl Enter {
    fn new(core: &Rc<Core>) -> Enter {
        let previous = CURRENT.with(|c| c.replace(Some(Rc::clone(core))));
        if previous.is_some() {
            CURRENT.with(|c| *c.borrow_mut() = previous);
            panic!(
                "cannot block_on inside an iomux::rt runtime: \
                 await the future, or spawn it, instead"
            );
        }
        CURRENT_ID.with(|c| c.set(core.id()));
        Enter { previous }
    }

    /// Enters even inside another runtime (for a shutdown).
    fn force(core: &Rc<Core>) -> Enter {
        let previous = CURRENT.with(|c| c.replace(Some(Rc::clone(core))));
        CURRENT_ID.with(|c| c.set(core.id()));
        Enter { previous }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let id = previous.as_ref().map_or(0, |c| c.id());
        let _ = CURRENT_ID.try_with(|c| c.set(id));
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// `io::Error` for a runtime that is gone.
pub(crate) fn gone() -> io::Error {
    io::Error::other("the iomux::rt runtime this belongs to has shut down")
}

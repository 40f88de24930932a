//! Tasks: the waker every task carries, and the `JoinHandle` that awaits
//! its result or aborts it.
//!
//! Not for: scheduling (the executor's) or cancellation semantics of the
//! I/O futures (each driver's: nothing is lost when a future is dropped).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use super::executor::Shared;
use crate::slab::Key;

/// A task's waker: which task (its slab key) on which runtime, and whether
/// it is queued already, so that a burst of wakes queues it once.
pub(crate) struct TaskWaker {
    pub(crate) key: Key,
    pub(crate) scheduled: AtomicBool,
    pub(crate) shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.shared.schedule(self.key);
        }
    }
}

/// Why a task ended without its output.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// The task was aborted, or dropped when its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }
    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }
    /// The panic's payload, to resume it with `std::panic::resume_unwind`.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self.repr {
            Repr::Panic(p) => Some(p),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("a non-string payload");
                write!(f, "task panicked: {msg}")
            }
        }
    }
}

impl std::error::Error for JoinError {}

struct JoinInner<T> {
    result: Option<Result<T, JoinError>>,
    joiner: Option<Waker>,
    finished: bool,
}

/// What a task and its handle share: the result, and who waits for it.
struct JoinState<T> {
    inner: Mutex<JoinInner<T>>,
    aborted: AtomicBool,
    /// The task's own waker, kept at its first poll, for `abort`.
    task: Mutex<Option<Waker>>,
}

impl<T> JoinState<T> {
    fn complete(&self, result: Result<T, JoinError>) {
        let joiner = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.finished {
                return;
            }
            inner.finished = true;
            inner.result = Some(result);
            inner.joiner.take()
        };
        if let Some(w) = joiner {
            w.wake();
        }
    }
}

/// Completes the join state when the task's future is dropped unfinished
/// (aborted, or its runtime shut down): the handle then sees `Cancelled`.
struct CompleteOnDrop<T>(Arc<JoinState<T>>);

impl<T> Drop for CompleteOnDrop<T> {
    fn drop(&mut self) {
        self.0.complete(Err(JoinError {
            repr: Repr::Cancelled,
        }));
    }
}

/// Wraps a spawned future: its output or its panic goes to the join state.
pub(crate) fn wrap<F>(future: F) -> (impl Future<Output = ()> + 'static, JoinParts<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let state = Arc::new(JoinState {
        inner: Mutex::new(JoinInner {
            result: None,
            joiner: None,
            finished: false,
        }),
        aborted: AtomicBool::new(false),
        task: Mutex::new(None),
    });
    let guard = CompleteOnDrop(Arc::clone(&state));
    let task = async move {
        let guard = guard;
        // In an `Option` so that it can be dropped in place before the
        // handle hears of the end: a joiner that sees "finished" must find
        // the task's sockets closed and its ports free.
        let mut future = std::pin::pin!(Some(future));
        let mut first = true;
        let result = std::future::poll_fn(|cx| {
            if first {
                first = false;
                *guard.0.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            }
            if guard.0.aborted.load(Ordering::Acquire) {
                return Poll::Ready(Err(JoinError {
                    repr: Repr::Cancelled,
                }));
            }
            let Some(running) = future.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(JoinError {
                    repr: Repr::Cancelled,
                }));
            };
            match catch_unwind(AssertUnwindSafe(|| running.poll(cx))) {
                Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(JoinError {
                    repr: Repr::Panic(payload),
                })),
            }
        })
        .await;
        // A panic while dropping is the task's too; it must not take the
        // runtime's thread down, nor the result already made.
        let dropped = catch_unwind(AssertUnwindSafe(|| future.set(None)));
        if dropped.is_err() {
            log::warn!("iomux::rt: a task panicked while its future was dropped");
        }
        if let Err(e) = &result
            && e.is_panic()
        {
            log::warn!("iomux::rt: {e}");
        }
        // The task's waker leads to its runtime: a finished task's handle
        // need not keep it.
        guard
            .0
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        guard.0.complete(result);
    };
    (task, JoinParts { state })
}

/// The join half made by [`wrap`].
pub(crate) struct JoinParts<T> {
    state: Arc<JoinState<T>>,
}

impl<T> JoinParts<T> {
    pub(crate) fn into_handle(self) -> JoinHandle<T> {
        JoinHandle { state: self.state }
    }
}

/// Awaits a spawned task's output, or aborts it. Dropping the handle
/// detaches the task: it runs on.
pub struct JoinHandle<T> {
    state: Arc<JoinState<T>>,
}

impl<T> JoinHandle<T> {
    /// Asks the task to stop: it is dropped, without being polled again, the
    /// next time its runtime looks at it, and the handle then yields a
    /// cancelled [`JoinError`]. Callable from any thread; no effect on a
    /// finished task.
    pub fn abort(&self) {
        self.state.aborted.store(true, Ordering::Release);
        let task = self
            .state
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(w) = task {
            w.wake();
        }
    }

    /// True once the task has ended (done, panicked or cancelled).
    pub fn is_finished(&self) -> bool {
        self.state
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.state.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(result) = inner.result.take() {
            return Poll::Ready(result);
        }
        if inner.finished {
            panic!("JoinHandle polled after it returned the result");
        }
        match &inner.joiner {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.joiner = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

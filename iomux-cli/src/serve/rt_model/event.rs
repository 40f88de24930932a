//! A one-shot event local to one runtime thread: fired once, awaited by any
//! number of tasks. The runtime's own tasks are `!Send` and its wakes stay
//! on the thread, so a `Cell` and a `RefCell` are all the state needs.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Fired once; [`wait`](LocalEvent::wait) completes from then on.
#[derive(Default)]
pub struct LocalEvent {
    fired: Cell<bool>,
    /// One slot per waiting future; a freed slot is reused.
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

impl LocalEvent {
    /// Fires the event and wakes every waiter.
    pub fn fire(&self) {
        if self.fired.replace(true) {
            return;
        }
        // Taken out first: a waker that runs code touching this event must
        // not find it borrowed.
        let wakers: Vec<Waker> = self
            .waiters
            .borrow_mut()
            .iter_mut()
            .flat_map(Option::take)
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether the event has fired.
    pub fn is_fired(&self) -> bool {
        self.fired.get()
    }

    /// Completes once the event has fired.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            slot: None,
        }
    }
}

/// The future of [`LocalEvent::wait`].
pub struct Wait<'a> {
    event: &'a LocalEvent,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.is_fired() {
            return Poll::Ready(());
        }
        let mut waiters = self.event.waiters.borrow_mut();
        match self.slot {
            Some(i) => waiters[i] = Some(cx.waker().clone()),
            None => {
                let i = match self.event.free.borrow_mut().pop() {
                    Some(i) => {
                        waiters[i] = Some(cx.waker().clone());
                        i
                    }
                    None => {
                        waiters.push(Some(cx.waker().clone()));
                        waiters.len() - 1
                    }
                };
                drop(waiters);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            self.event.waiters.borrow_mut()[i] = None;
            self.event.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fire_wakes_every_live_waiter_once_and_later_waits_are_ready() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let event = LocalEvent::default();
        let mut a = Box::pin(event.wait());
        let mut b = Box::pin(event.wait());
        let mut gone = Box::pin(event.wait());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert!(gone.as_mut().poll(&mut cx).is_pending());
        drop(gone);
        // The dropped waiter's slot is reused, not grown.
        let mut c = Box::pin(event.wait());
        assert!(c.as_mut().poll(&mut cx).is_pending());
        assert_eq!(event.waiters.borrow().len(), 3);
        event.fire();
        event.fire();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            3,
            "a, b and c woken once each"
        );
        assert!(a.as_mut().poll(&mut cx).is_ready());
        assert!(Box::pin(event.wait()).as_mut().poll(&mut cx).is_ready());
    }
}

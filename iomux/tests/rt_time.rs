//! iomux::rt timers on every driver: never early, fired in deadline order
//! (ties in the order they were set), timeouts and intervals.

#[macro_use]
mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use iomux::rt::time::{interval, sleep, sleep_until, timeout};
use iomux::rt::{self, DriverKind, Runtime};

fn timers_are_never_early_and_ordered(driver: DriverKind) {
    common::bounded(30, "timer order", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            // Every timer is set (its task polled once) well before the
            // first deadline: a sleep polled after its deadline completes
            // at once, ahead of earlier timers still waiting for the tick,
            // which is not the order under test.
            let start = Instant::now() + Duration::from_millis(100);
            let fired = Rc::new(RefCell::new(Vec::new()));
            // Deadlines from 100 to 140 ms in a scrambled order, with ties.
            let deadlines: Vec<Instant> = (0..300u64)
                .map(|i| start + Duration::from_micros((i * 7919 % 41) * 1000))
                .collect();
            let tasks: Vec<_> = deadlines
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    let fired = fired.clone();
                    rt::spawn_local(async move {
                        sleep_until(d).await;
                        let now = Instant::now();
                        fired.borrow_mut().push((d, i, now));
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("timer task");
            }
            let fired = fired.borrow();
            assert_eq!(fired.len(), deadlines.len());
            for &(d, i, now) in fired.iter() {
                assert!(now >= d, "timer {i} fired {:?} early", d - now);
            }
            for w in fired.windows(2) {
                let ((d0, i0, _), (d1, i1, _)) = (w[0], w[1]);
                assert!(
                    d0 < d1 || (d0 == d1 && i0 < i1),
                    "timer {i1} (deadline +{:?}) fired after timer {i0} (+{:?})",
                    d1 - start,
                    d0 - start
                );
            }
        });
    });
}
on_every_driver!(timers_are_never_early_and_ordered);

fn timeout_and_interval(driver: DriverKind) {
    common::bounded(30, "timeout and interval", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let t0 = Instant::now();
            let r = timeout(Duration::from_millis(20), std::future::pending::<()>()).await;
            assert!(r.is_err(), "a pending future times out");
            assert!(
                t0.elapsed() >= Duration::from_millis(20),
                "timed out early: {:?}",
                t0.elapsed()
            );
            assert_eq!(
                timeout(Duration::ZERO, async { 5 }).await,
                Ok(5),
                "a ready future wins"
            );
            let quick = timeout(Duration::from_secs(10), sleep(Duration::from_millis(1))).await;
            assert!(quick.is_ok());

            let period = Duration::from_millis(10);
            let mut ticker = interval(period);
            let first = ticker.tick().await;
            let mut last = first;
            for n in 1..=5 {
                let at = ticker.tick().await;
                assert!(Instant::now() >= at, "tick {n} early");
                assert!(
                    at >= last + period,
                    "tick {n} came {:?} after the last",
                    at - last
                );
                last = at;
            }
            assert!(last - first >= period * 5);

            // A reset sleep follows its new deadline, earlier or later.
            let mut s = sleep(Duration::from_secs(3600));
            let soon = Instant::now() + Duration::from_millis(5);
            s.reset(soon);
            (&mut s).await;
            assert!(Instant::now() >= soon);
            assert!(s.is_elapsed());
        });
    });
}
on_every_driver!(timeout_and_interval);

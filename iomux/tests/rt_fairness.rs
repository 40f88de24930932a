//! A task whose socket never runs dry must still let the other tasks of its
//! runtime run (the per-poll I/O budget), on every driver.

#[macro_use]
mod common;

use std::cell::Cell;
use std::rc::Rc;

use iomux::rt::net::UnixStream;
use iomux::rt::{self, DriverKind, Runtime};

/// Bytes waiting in the socket before the reader starts: far more reads
/// (one byte each) than any budget.
const WAITING: usize = 64 * 1024;

fn a_busy_reader_does_not_starve_its_neighbours(driver: DriverKind) {
    common::bounded(60, "a reader that never runs dry", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let (mut reader, mut writer) = UnixStream::pair().expect("pair");
            writer.write_all(&vec![7u8; WAITING]).await.expect("fill");
            writer.flush().await.expect("flush");
            let consumed = Rc::new(Cell::new(0usize));
            let seen_at = Rc::new(Cell::new(None));
            let (c, s) = (consumed.clone(), seen_at.clone());
            // Ready to run before the reader: it only needs one turn.
            let neighbour = rt::spawn_local(async move {
                rt::yield_now().await;
                s.set(Some(c.get()));
            });
            let c = consumed.clone();
            let busy = rt::spawn_local(async move {
                let mut byte = [0u8; 1];
                while c.get() < WAITING {
                    let n = reader.read(&mut byte).await.expect("read");
                    assert_eq!(n, 1, "one byte at a time");
                    c.set(c.get() + 1);
                }
                drop(writer);
            });
            neighbour.await.expect("neighbour");
            busy.await.expect("busy reader");
            let at = seen_at.get().expect("the neighbour ran");
            assert!(
                at < WAITING / 2,
                "the neighbour ran only after the busy reader had read {at} of {WAITING} bytes"
            );
        });
    });
}
on_every_driver!(a_busy_reader_does_not_starve_its_neighbours);

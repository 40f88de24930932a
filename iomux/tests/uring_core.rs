//! The io_uring core (`iomux::uring`) on the running kernel: the features
//! probe, the setup it chooses, a full SQ and an overflowing CQ losing
//! nothing, multishot accept straight into the fixed-file table, multishot
//! recv into an incremental provided-buffer ring, recv bundles over both
//! kinds of ring, and cancel-any.

#![cfg(feature = "uring")]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use iomux::uring::{
    BufRing, Completion, Feature, Features, Options, Ring, Target, TaskRun, UserData, op,
};

const WAIT: Duration = Duration::from_secs(10);

/// Enters and reaps until `done` says so, within WAIT.
fn reap_until(ring: &mut Ring, mut done: impl FnMut(&[Completion]) -> bool) -> Vec<Completion> {
    let end = Instant::now() + WAIT;
    let mut all = Vec::new();
    while !done(&all) {
        assert!(Instant::now() < end, "no progress: {all:?}");
        ring.enter(1, Some(Duration::from_millis(100)))
            .expect("enter");
        ring.reap(&mut all);
    }
    all
}

#[test]
fn features_are_probed_once_and_name_their_release() {
    let a = Features::probe().expect("io_uring is available here");
    eprintln!("features: {a:?}");
    let b = Features::probe().unwrap();
    assert!(std::ptr::eq(a, b), "probed once per process");
    assert!(a.nodrop && a.ext_arg, "every kernel since 5.11: {a:?}");
    // The order of releases holds on the kernel we run on.
    if a.pbuf_ring_inc {
        assert!(a.pbuf_ring && a.defer_taskrun && a.multishot_recv, "{a:?}");
    }
    if a.defer_taskrun {
        assert!(
            a.coop_taskrun && a.cancel_any && a.multishot_accept,
            "{a:?}"
        );
    }
    assert_eq!(
        Feature::PbufRingInc.to_string(),
        "IOU_PBUF_RING_INC (Linux 6.12)"
    );
}

#[test]
fn setup_takes_the_best_mode_the_options_allow() {
    let f = Features::probe().unwrap();
    let single = Ring::open(
        &Options::new("test")
            .task_run(TaskRun::Defer)
            .register_ring_fd(true),
    )
    .unwrap();
    let best = if f.defer_taskrun {
        TaskRun::Defer
    } else if f.coop_taskrun {
        TaskRun::Coop
    } else {
        TaskRun::Plain
    };
    assert_eq!(single.task_run(), best);
    assert_eq!(single.registered_ring_fd(), f.registered_ring_fd);
    let shared = Ring::open(&Options::new("test").task_run(TaskRun::Plain)).unwrap();
    assert_eq!(shared.task_run(), TaskRun::Plain);
    assert!(!shared.registered_ring_fd());
}

#[test]
fn a_look_without_waiting_runs_deferred_completion_work() {
    use std::os::unix::net::UnixStream;
    // On a DEFER_TASKRUN ring, a completion is posted only when the ring's
    // thread asks for events: `enter(0, …)` must ask when the kernel has
    // work pending, or a caller that never waits never sees it.
    let mut ring = Ring::open(&Options::new("test").task_run(TaskRun::Defer)).unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    ring.push(op::poll(
        a.as_raw_fd(),
        libc::POLLIN as u32,
        false,
        UserData::new(1, 0, 0),
    ));
    ring.submit().unwrap();
    b.write_all(b"x").unwrap();
    let end = Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.is_empty() {
        assert!(Instant::now() < end, "the poll's completion never came");
        ring.enter(0, None).unwrap();
        ring.reap(&mut got);
    }
    assert_eq!(got[0].user_data(), UserData::new(1, 0, 0));
    assert!(got[0].result() & libc::POLLIN as i32 != 0, "{got:?}");
}

#[test]
fn a_full_sq_and_an_overflowing_cq_lose_nothing_and_keep_order() {
    const N: u32 = 200;
    // 2 SQ entries, 4 CQ entries: the SQ is full at every third push and
    // the CQ overflows many times over.
    let mut ring = Ring::open(
        &Options::new("test")
            .entries(2, 4)
            .task_run(TaskRun::Defer)
            .register_ring_fd(true),
    )
    .unwrap();
    for i in 0..N {
        // A cancel of a request that does not exist: completes with ENOENT.
        ring.push(op::cancel(UserData::new(9, i, 0), UserData::new(1, i, i)));
    }
    assert!(ring.stats().sq_full > 0, "{:?}", ring.stats());
    let all = reap_until(&mut ring, |all| all.len() >= N as usize);
    assert_eq!(all.len(), N as usize, "one completion each, none twice");
    for (i, c) in all.iter().enumerate() {
        assert_eq!(c.user_data(), UserData::new(1, i as u32, i as u32));
        assert_eq!(c.result(), -libc::ENOENT);
    }
    assert_eq!(ring.backlog(), 0);
}

#[test]
fn direct_accepts_and_incremental_multishot_receives() {
    let f = Features::probe().unwrap();
    if !(f.multishot_accept && f.multishot_recv && f.pbuf_ring) {
        eprintln!("skipped: the kernel lacks multishot accept/recv or buffer rings");
        return;
    }
    const ACCEPT: u8 = 1;
    const RECV: u8 = 2;
    const CLOSE: u8 = 3;
    let mut ring = Ring::open(
        &Options::new("test")
            .task_run(TaskRun::Defer)
            .require(&[Feature::MultishotAccept, Feature::MultishotRecv]),
    )
    .unwrap();
    ring.register_files(8).unwrap();
    assert_eq!(ring.files(), 8);
    // Small buffers: each message below spans several, or shares one.
    let mut bufs = BufRing::incremental(&ring, 3, 8, 64).unwrap();
    assert_eq!(bufs.is_incremental(), f.pbuf_ring_inc);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    ring.push(op::accept_multi_direct(
        listener.as_raw_fd(),
        UserData::new(ACCEPT, 0, 0),
    ));
    let mut clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let accepted = reap_until(&mut ring, |all| all.len() >= 3);
    let mut slots = Vec::new();
    for c in &accepted {
        assert_eq!(c.user_data().op(), ACCEPT);
        assert!(c.more(), "the multishot accept goes on");
        assert!(c.result() >= 0 && c.result() < 8, "a table slot: {c:?}");
        slots.push(c.result() as u32);
    }
    slots.sort();
    slots.dedup();
    assert_eq!(slots.len(), 3, "three slots: {accepted:?}");
    for (i, &slot) in slots.iter().enumerate() {
        ring.push(op::recv_multi(
            Target::Fixed(slot),
            3,
            UserData::new(RECV, slot, i as u32),
        ));
    }
    ring.submit().unwrap();
    // Which client went to which slot is the kernel's business: each sends
    // its own letter, and each slot must receive one letter only.
    let sizes = [10usize, 100, 37];
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(&vec![b'a' + i as u8; sizes[i]]).unwrap();
    }
    let total: usize = sizes.iter().sum();
    let mut got: Vec<(u32, Vec<u8>)> = Vec::new();
    let end = Instant::now() + WAIT;
    while got.iter().map(|(_, b)| b.len()).sum::<usize>() < total {
        assert!(Instant::now() < end, "received {got:?}");
        ring.enter(1, Some(Duration::from_millis(100))).unwrap();
        let mut batch = Vec::new();
        ring.reap(&mut batch);
        for c in &batch {
            assert_eq!(c.user_data().op(), RECV, "{c:?}");
            assert!(c.result() > 0, "{c:?}");
            let b = bufs.pick(c).expect("a receive names its buffer");
            let slot = c.user_data().slot();
            match got.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, v)) => v.extend_from_slice(bufs.bytes(&b)),
                None => got.push((slot, bufs.bytes(&b).to_vec())),
            }
            bufs.release(b);
        }
        bufs.publish();
    }
    let mut lens: Vec<usize> = got
        .iter()
        .map(|(_, v)| {
            assert!(v.iter().all(|&x| x == v[0]), "one client's bytes: {v:?}");
            v.len()
        })
        .collect();
    lens.sort();
    assert_eq!(lens, [10, 37, 100]);
    // Cancel everything (the accept and the receives), then free the slots.
    if f.cancel_any {
        ring.push(op::cancel_any(UserData::new(CLOSE, 99, 0)));
        let ended = reap_until(&mut ring, |all| {
            all.iter()
                .filter(|c| c.user_data().op() != CLOSE && !c.more())
                .count()
                >= 4
        });
        assert!(
            ended
                .iter()
                .filter(|c| c.user_data().op() != CLOSE)
                .all(|c| c.result() == -libc::ECANCELED),
            "{ended:?}"
        );
    }
    for &slot in &slots {
        ring.push(op::close_fixed(slot, UserData::new(CLOSE, slot, 0)));
    }
    let closed = reap_until(&mut ring, |all| {
        all.iter().filter(|c| c.user_data().slot() != 99).count() >= 3
    });
    assert!(closed.iter().all(|c| c.result() >= 0), "{closed:?}");
    bufs.close(&ring).unwrap();
}

/// Pieces of one incrementally consumed buffer can belong to different
/// connections and be released in any order: the buffer goes back to the
/// kernel only once every piece is released, so a held piece is never
/// written over.
#[test]
fn an_incremental_buffer_returns_only_when_every_piece_is_released() {
    let f = Features::probe().unwrap();
    if !f.pbuf_ring_inc {
        eprintln!("skipped: the kernel lacks IOU_PBUF_RING_INC (6.12)");
        return;
    }
    let mut ring = Ring::open(&Options::new("a test")).unwrap();
    // One buffer of 64 bytes: two receives share it.
    let mut bufs = BufRing::incremental(&ring, 5, 1, 64).unwrap();
    let (mut a_peer, a) = std::os::unix::net::UnixStream::pair().unwrap();
    let (mut b_peer, b) = std::os::unix::net::UnixStream::pair().unwrap();
    ring.push(op::recv_multi(
        Target::Fd(a.as_raw_fd()),
        5,
        UserData::new(1, 0, 0),
    ));
    ring.push(op::recv_multi(
        Target::Fd(b.as_raw_fd()),
        5,
        UserData::new(2, 0, 0),
    ));
    ring.submit().unwrap();

    a_peer.write_all(&[b'a'; 40]).unwrap();
    let got = reap_until(&mut ring, |c| !c.is_empty());
    let piece_a = bufs.pick(&got[0]).expect("a's piece");
    assert_eq!((got[0].user_data().op(), piece_a.len()), (1, 40));
    b_peer.write_all(&[b'b'; 24]).unwrap();
    let got = reap_until(&mut ring, |c| !c.is_empty());
    let piece_b = bufs.pick(&got[0]).expect("b's piece");
    assert_eq!((got[0].user_data().op(), piece_b.len()), (2, 24));
    assert!(!got[0].buffer_more(), "b's piece ends the buffer");

    // b's piece released first: the buffer must stay out of the ring.
    bufs.release(piece_b);
    bufs.publish();
    b_peer.write_all(&[b'c'; 40]).unwrap();
    let got = reap_until(&mut ring, |c| !c.is_empty());
    assert_eq!(
        got[0].result(),
        -libc::ENOBUFS,
        "with a's piece held, no buffer may be handed out: {got:?}"
    );
    assert_eq!(bufs.bytes(&piece_a), &[b'a'; 40][..], "a's piece intact");
    bufs.release(piece_a);
    bufs.publish();
    // Now the buffer is back: a receive gets it.
    ring.push(op::recv_multi(
        Target::Fd(b.as_raw_fd()),
        5,
        UserData::new(2, 0, 1),
    ));
    ring.submit().unwrap();
    let got = reap_until(&mut ring, |c| c.iter().any(|c| c.result() > 0));
    let c = got.iter().find(|c| c.result() > 0).unwrap();
    let piece = bufs.pick(c).expect("the returned buffer");
    assert_eq!(bufs.bytes(&piece), &[b'c'; 40][..]);
    bufs.release(piece);
}

/// Bundled receives of `total` bytes sent in one write, on a ring of
/// 1 KiB buffers (classic or incremental): the pieces `pick_each` hands
/// out, in order, are the bytes sent, and some completion spans buffers.
fn bundles_read_back(incremental: bool) {
    let f = Features::probe().unwrap();
    if !f.recv_bundle || (incremental && !f.pbuf_ring_inc) {
        eprintln!("skipped: the kernel lacks IORING_RECVSEND_BUNDLE (6.10) or IOU_PBUF_RING_INC");
        return;
    }
    let mut ring = Ring::open(&Options::new("a test")).unwrap();
    let new = if incremental {
        BufRing::incremental
    } else {
        BufRing::new
    };
    let mut bufs = new(&ring, 6, 16, 1024).unwrap();
    let (mut peer, sock) = std::os::unix::net::UnixStream::pair().unwrap();
    ring.push(op::recv_multi_bundle(
        Target::Fd(sock.as_raw_fd()),
        6,
        UserData::new(1, 0, 0),
    ));
    ring.submit().unwrap();
    let sent: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut got = Vec::new();
    let mut widest = 0;
    let mut offset = 0;
    // Each round sends 5,000 bytes (under the ring's 16 KiB) and reads
    // them back, the buffers returned before the next round.
    for round in sent.chunks(5_000) {
        peer.write_all(round).unwrap();
        let want = got.len() + round.len();
        let mut held = Vec::new();
        let all = reap_until(&mut ring, |c| {
            c.iter().map(|c| c.result().max(0) as usize).sum::<usize>() + got.len() >= want
        });
        for c in &all {
            assert!(c.result() > 0, "a failed receive: {c:?}");
            let mut pieces = 0;
            bufs.pick_each(c, |b| {
                pieces += 1;
                held.push(b);
            });
            widest = widest.max(pieces);
        }
        for b in held {
            got.extend_from_slice(bufs.bytes(&b));
            bufs.release(b);
        }
        bufs.publish();
        assert_eq!(
            got[offset..],
            sent[offset..want],
            "the bytes of the round at {offset}"
        );
        offset = want;
    }
    assert_eq!(got, sent);
    assert!(
        widest > 1,
        "no completion spanned two buffers: bundles not taken"
    );
}

#[test]
fn bundled_receives_on_a_classic_ring_read_back_in_order() {
    bundles_read_back(false);
}

#[test]
fn bundled_receives_on_an_incremental_ring_read_back_in_order() {
    bundles_read_back(true);
}

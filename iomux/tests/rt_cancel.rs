//! Cancellation on every driver: a read or write future dropped mid-way
//! loses no byte and duplicates none (the io_uring driver's buffers are
//! the runtime's, so its in-flight requests survive the future).

#[macro_use]
mod common;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use iomux::rt::net::{TcpListener, TcpStream, UnixStream};
use iomux::rt::time::{sleep, timeout};
use iomux::rt::{self, DriverKind, Runtime};

/// Polls `f` once and drops it; true if it was pending.
async fn poll_once_then_drop<F: Future>(f: F) -> bool {
    let mut f = pin!(f);
    std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx).is_pending())).await
}

fn dropped_read_loses_nothing(driver: DriverKind) {
    common::bounded(30, "dropped read", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().expect("pair");
            let mut buf = [0u8; 64];
            // A read in flight (on io_uring, a submitted receive) is dropped,
            // then the bytes come: the next read returns exactly them.
            assert!(
                poll_once_then_drop(a.read(&mut buf)).await,
                "nothing to read yet"
            );
            b.write_all(b"first").await.expect("write");
            b.flush().await.expect("flush");
            let mut got = Vec::new();
            while got.len() < 5 {
                let n = a.read(&mut buf).await.expect("read");
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"first");

            // Many reads cut short by a timeout while a writer trickles a
            // numbered stream: the reader sees it whole, in order, once.
            let writer = rt::spawn_local(async move {
                for i in 0u32..2000 {
                    b.write_all(&i.to_le_bytes()).await.expect("trickle");
                    if i % 50 == 0 {
                        sleep(Duration::from_micros(300)).await;
                    }
                }
                b.shutdown().await.expect("shutdown");
            });
            let mut stream = Vec::new();
            let mut cut = 0;
            loop {
                match timeout(Duration::from_micros(100), a.read(&mut buf)).await {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => stream.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => panic!("read: {e}"),
                    Err(_) => cut += 1,
                }
            }
            writer.await.expect("writer");
            let want: Vec<u8> = (0u32..2000).flat_map(|i| i.to_le_bytes()).collect();
            assert!(
                stream == want,
                "the stream read through {cut} cancelled reads differs: {} bytes of {}",
                stream.len(),
                want.len()
            );
        });
    });
}
on_every_driver!(dropped_read_loses_nothing);

fn dropped_write_takes_nothing(driver: DriverKind) {
    common::bounded(30, "dropped write", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let mut client = TcpStream::connect(addr).await.expect("connect");
            let (mut server, _) = listener.accept().await.expect("accept");
            // Write until a write is pending (the peer reads nothing), then
            // drop that one: it must not have taken any byte.
            let chunk = vec![7u8; 64 * 1024];
            let mut accepted = 0usize;
            loop {
                let mut pending = false;
                let mut n = 0;
                {
                    let mut w = pin!(client.write(&chunk));
                    std::future::poll_fn(|cx| {
                        match w.as_mut().poll(cx) {
                            Poll::Ready(r) => n = r.expect("write"),
                            Poll::Pending => pending = true,
                        }
                        Poll::Ready(())
                    })
                    .await;
                }
                if pending {
                    break;
                }
                accepted += n;
                rt::yield_now().await;
                assert!(accepted < 512 << 20, "writes never blocked");
            }
            // The peer reads while this side flushes and shuts down (on
            // io_uring the shutdown waits for the sends in flight).
            let reader = rt::spawn_local(async move {
                let mut total = 0usize;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = server.read(&mut buf).await.expect("read");
                    if n == 0 {
                        return total;
                    }
                    assert!(buf[..n].iter().all(|&b| b == 7));
                    total += n;
                }
            });
            client.shutdown().await.expect("shutdown");
            let total = reader.await.expect("reader");
            assert_eq!(
                total, accepted,
                "the peer got exactly the bytes the writes took"
            );
        });
    });
}
on_every_driver!(dropped_write_takes_nothing);

/// Accepts dropped mid-way (a `select!` or a `timeout` around `accept()`)
/// lose no connection the client sees as established: 500 clients connect
/// while accept futures are polled once and dropped (four before each
/// awaited one; those that found nothing yet are dropped pending), and the
/// server still accepts all 500 (on io_uring the multishot accept keeps what it
/// took for the next `accept()`).
fn dropped_accepts_lose_no_connection(driver: DriverKind) {
    common::bounded(60, "dropped accepts", move || {
        let rt = Runtime::with_driver(driver).expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            const CLIENTS: usize = 500;
            let clients = std::thread::spawn(move || {
                (0..CLIENTS)
                    .map(|i| {
                        std::net::TcpStream::connect(addr)
                            .unwrap_or_else(|e| panic!("client {i}: connect: {e}"))
                    })
                    .collect::<Vec<_>>()
            });
            let mut accepted = Vec::new();
            let mut dropped = 0;
            while accepted.len() < CLIENTS {
                for _ in 0..4 {
                    // Polled once: what it accepted at once is kept (the
                    // caller saw it); a pending accept is dropped.
                    let mut once = pin!(listener.accept());
                    let polled =
                        std::future::poll_fn(|cx| Poll::Ready(once.as_mut().poll(cx))).await;
                    match polled {
                        Poll::Ready(Ok((stream, _))) => accepted.push(stream),
                        Poll::Ready(Err(e)) => panic!("{driver}: accept: {e}"),
                        Poll::Pending => dropped += 1,
                    }
                }
                if accepted.len() >= CLIENTS {
                    break;
                }
                match timeout(Duration::from_secs(5), listener.accept()).await {
                    Ok(Ok((stream, _))) => accepted.push(stream),
                    Ok(Err(e)) => panic!("{driver}: accept: {e}"),
                    Err(_) => panic!(
                        "{driver}: {} of {CLIENTS} connections accepted after {dropped} dropped \
                         accepts; the rest were lost",
                        accepted.len()
                    ),
                }
            }
            let clients = clients.join().expect("the client thread");
            assert_eq!(clients.len(), CLIENTS);
            assert!(dropped > 0, "{driver}: no accept was dropped mid-way");
            // Each accepted stream is one of the clients: the peers' ports
            // are the clients' local ports, once each.
            let mut ours: Vec<u16> = accepted
                .iter()
                .map(|s| s.peer_addr().expect("peer").port())
                .collect();
            let mut theirs: Vec<u16> = clients
                .iter()
                .map(|c| c.local_addr().expect("local").port())
                .collect();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(
                ours, theirs,
                "{driver}: the accepted connections are not the clients'"
            );
        });
    });
}
on_every_driver!(dropped_accepts_lose_no_connection);

//! One connection on iomux::rt: the library's sans-IO session (the same
//! one the other models drive), pumped by awaiting reads and writes, with
//! its deadlines and the graceful stop raced against them.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use iomux::conn::Step;
use iomux::rt::net::TcpStream;
use iomux::rt::time::{Sleep, sleep_until};

use super::event::LocalEvent;
use crate::serve::model_common::Session;

/// Read buffer per connection.
const BUF: usize = 16 * 1024;

/// How an awaited operation ended.
enum Raced<T> {
    Done(T),
    /// The deadline passed first.
    TimedOut,
    /// The graceful stop began first.
    Stopped,
}

/// Awaits `op`, but no later than the deadline `deadline()` gives (asked
/// only if `op` is not ready at once, so a ready operation arms no timer),
/// and not past `stop` firing, if given. `timer` is the connection's one
/// reusable timer.
async fn race<T>(
    op: impl Future<Output = T>,
    deadline: impl FnOnce() -> Option<Instant>,
    timer: &mut Sleep,
    stop: Option<&LocalEvent>,
) -> Raced<T> {
    let mut op = pin!(op);
    let mut stop = stop.map(|s| Box::pin(s.wait()));
    let mut deadline = Some(deadline);
    let mut timed = false;
    poll_fn(|cx| {
        if let Poll::Ready(v) = op.as_mut().poll(cx) {
            return Poll::Ready(Raced::Done(v));
        }
        if let Some(d) = deadline.take().and_then(|f| f()) {
            if timer.deadline() != d {
                timer.reset(d);
            }
            timed = true;
        }
        if timed && Pin::new(&mut *timer).poll(cx).is_ready() {
            return Poll::Ready(Raced::TimedOut);
        }
        if let Some(s) = stop.as_mut()
            && s.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Raced::Stopped);
        }
        Poll::Pending
    })
    .await
}

/// Serves one connection to its end. Once `stop` fires, an idle
/// connection closes at once and a busy one after its answers are out
/// (a lingering close), as in the other models' graceful stop.
pub async fn serve(mut conn: TcpStream, mut s: Session, stop: &LocalEvent) {
    let _ = conn.set_nodelay(true);
    let send_timeout: Duration = s.send_timeout();
    let mut buf = vec![0u8; BUF];
    let mut timer = sleep_until(Instant::now());
    loop {
        while !s.pending().is_empty() {
            let out = s.pending();
            let give_up = || Some(Instant::now() + send_timeout);
            match race(conn.write(out), give_up, &mut timer, None).await {
                Raced::Done(Ok(n)) if n > 0 => s.advance(n),
                Raced::Done(_) => return, // an error or a zero write
                Raced::TimedOut | Raced::Stopped => return abort(&conn),
            }
        }
        match s.next_step() {
            Step::Serve => {}
            Step::Close => break,
            Step::ShutdownWrite => {
                // Shut down the write half and read (and drop) until the
                // peer closes too, so unread input cannot turn the close
                // into a reset that destroys the answer in flight.
                if conn.shutdown().await.is_err() {
                    return;
                }
                s.lingering();
                continue;
            }
        }
        if stop.is_fired() && s.is_open() {
            // Stopping: answer what has already arrived (all of it: a
            // 48 KiB request comes in several reads), then close; an idle
            // connection closes at once. The other models' `drain_last`.
            match read_arrived(&mut conn, &mut buf).await {
                Some(Ok(0)) => s.read_closed(),
                Some(Ok(n)) => {
                    if !s.received(&buf[..n]) {
                        break;
                    }
                }
                Some(Err(_)) => break,
                None if s.is_idle() => break,
                None => s.close_when_sent(),
            }
            continue;
        }
        if !s.wants_read() {
            break; // nothing to send and nothing wanted: no way forward
        }
        let deadline = s.deadline();
        // Once stopping, only a closing or lingering session reads here,
        // and the stop has nothing more to say to it.
        let watch = (!stop.is_fired()).then_some(stop);
        match race(conn.read(&mut buf), || deadline, &mut timer, watch).await {
            Raced::Done(Ok(0)) => s.read_closed(),
            Raced::Done(Ok(n)) => {
                if !s.received(&buf[..n]) {
                    break;
                }
            }
            Raced::Done(Err(_)) | Raced::TimedOut => break,
            Raced::Stopped => {} // the top of the loop decides
        }
    }
    // The io_uring driver writes behind: what it still holds is handed to
    // the kernel before the socket closes (bounded like any write).
    let give_up = || Some(Instant::now() + send_timeout);
    if !matches!(
        race(conn.flush(), give_up, &mut timer, None).await,
        Raced::Done(_)
    ) {
        abort(&conn);
    }
}

/// A read of what has already arrived, without waiting for more: `None`
/// when nothing has. The read is tried; if it would wait, bytes still in
/// the socket (FIONREAD) mean it completes soon and it is awaited;
/// otherwise the runtime gets one turn (the io_uring driver may hold a
/// completed receive not yet reaped, an edge may wait to be harvested)
/// and the read is tried once more.
async fn read_arrived(conn: &mut TcpStream, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
    let queued = rustix::io::ioctl_fionread(&*conn).unwrap_or(0);
    let mut op = pin!(conn.read(buf));
    if let Some(r) = poll_now(op.as_mut()).await {
        return Some(r);
    }
    if queued > 0 {
        return Some(op.await);
    }
    iomux::rt::yield_now().await;
    poll_now(op).await
}

/// Polls `op` once: its output if it is ready.
async fn poll_now<T>(mut op: Pin<&mut impl Future<Output = T>>) -> Option<T> {
    poll_fn(|cx| {
        Poll::Ready(match op.as_mut().poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await
}

/// Ends a connection whose output is stuck: the send timeout passed. Shut
/// down both ways, so that a send the io_uring driver still has in flight
/// fails now rather than when the peer reads (the dropped stream is closed
/// once its last completion has come); the close then resets the peer,
/// whose unread bytes are still queued here.
fn abort(conn: &TcpStream) {
    let _ = rustix::net::shutdown(conn, rustix::net::Shutdown::Both);
}

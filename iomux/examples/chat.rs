//! A chat room (pub-sub) on the reactor: every line a member sends is
//! pushed to every other member, on whichever loop of the group it lives;
//! lines typed on the server's stdin are announced to everyone from the
//! main thread.
//!
//! `cargo run --example chat -- [threads]`, then several `nc 127.0.0.1 <port>`.
//!
//! What it shows: `on_open` (a welcome before the member says anything),
//! `on_message` with a `Context`, `EventLoop::send` to another connection
//! of the same loop, `LoopHandle::send` to a connection of another loop
//! or from any thread, and `on_close` to leave the room.

use std::io::{self, BufRead};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use iomux::conn::{CloseReason, ConnId, Context, Handler};
use iomux::reactor::{Config, LoopGroup, LoopHandle};

/// Lines longer than this are cut (a member cannot make the room buffer
/// without bound).
const MAX_LINE: usize = 4096;

/// Who is in the room: each member's loop and connection.
#[derive(Default)]
pub struct Room {
    members: Mutex<Vec<(LoopHandle, ConnId)>>,
}

impl Room {
    /// Pushes `text` to every member, from any thread.
    pub fn announce(&self, text: &str) {
        let members = self.members.lock().unwrap().clone();
        for (handle, id) in members {
            // A member that has just left, or a loop that has exited: the
            // message is not for it any more.
            let _ = handle.send(id, text.as_bytes());
        }
    }

    /// Members in the room now.
    pub fn headcount(&self) -> usize {
        self.members.lock().unwrap().len()
    }

    /// Pushes `text` from member `from` (on `cx`'s loop) to the others:
    /// directly for those on the same loop, through their loop's handle
    /// for the rest.
    fn publish(&self, cx: &mut Context<'_>, text: &[u8]) {
        let here = cx.handle();
        let members = self.members.lock().unwrap().clone();
        for (handle, id) in members {
            if id == cx.id() && handle.is_same_loop(&here) {
                continue;
            }
            if handle.is_same_loop(&here) {
                let _ = cx.event_loop().send(id, text);
            } else {
                let _ = handle.send(id, text);
            }
        }
    }
}

/// One member's connection.
struct Member {
    room: Arc<Room>,
    me: Option<(LoopHandle, ConnId)>,
}

impl Handler for Member {
    fn on_open(&mut self, cx: &mut Context<'_>) {
        let me = (cx.handle(), cx.id());
        let who = format!("{:?}", cx.id());
        cx.send(format!("welcome {who}; {} here already\n", self.room.headcount()).as_bytes());
        self.room.members.lock().unwrap().push(me.clone());
        self.me = Some(me);
    }

    fn on_message(&mut self, cx: &mut Context<'_>, input: &[u8]) -> usize {
        let mut used = 0;
        while let Some(end) = input[used..].iter().position(|&b| b == b'\n') {
            let line = &input[used..used + end + 1];
            let text = format!("{:?}: {}", cx.id(), String::from_utf8_lossy(line));
            self.room.publish(cx, text.as_bytes());
            used += end + 1;
        }
        if input.len() - used > MAX_LINE {
            cx.send(b"line too long, bye\n");
            cx.close();
            return input.len();
        }
        used
    }

    fn on_close(&mut self, _reason: CloseReason) {
        if let Some((handle, id)) = self.me.take() {
            let mut members = self.room.members.lock().unwrap();
            members.retain(|(h, m)| !(*m == id && h.is_same_loop(&handle)));
        }
    }
}

/// Serves a chat room on `addr` with `threads` loops.
pub fn serve(addr: SocketAddr, threads: usize) -> io::Result<(LoopGroup, Arc<Room>)> {
    let room = Arc::new(Room::default());
    let members = Arc::clone(&room);
    let group = LoopGroup::bind(
        addr,
        threads,
        Config::default(),
        Arc::new(move || {
            Box::new(Member {
                room: Arc::clone(&members),
                me: None,
            })
        }),
    )?;
    Ok((group, room))
}

/// `--help`: the arguments this example takes.
#[allow(dead_code)] // the integration test includes this file without running main
const HELP: &str = "\
chat: a chat room on the reactor: each line a member sends reaches every other member

usage: chat [THREADS]

  THREADS     event loops, each with its own SO_REUSEPORT listener (default 2)
  -h, --help  print this help

Listens on 127.0.0.1 (a free port, printed); lines typed on stdin are announced to every member.
";

#[allow(dead_code)] // the integration test includes this file without running main
fn main() -> io::Result<()> {
    if std::env::args().skip(1).any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let threads = std::env::args()
        .nth(1)
        .map_or(2, |t| t.parse().unwrap_or(2));
    let (group, room) = serve("127.0.0.1:0".parse().unwrap(), threads)?;
    println!(
        "chat on {} ({threads} loops); type here to announce",
        group.local_addr()
    );
    for line in io::stdin().lock().lines() {
        room.announce(&format!("server: {}\n", line?));
    }
    group.stop();
    group.join()
}

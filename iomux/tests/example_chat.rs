//! The chat example: a line from one member reaches every other member,
//! on the same loop and on other loops, and an announcement from another
//! thread (`LoopHandle::send`) reaches everyone.

mod common;

#[path = "../examples/chat.rs"]
mod chat;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Instant;

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut s = String::new();
    r.read_line(&mut s)
        .expect("a line from the chat server (10 s)");
    s
}

#[test]
fn lines_reach_every_other_member_and_announcements_everyone() {
    // Two loops: with SO_REUSEPORT the members spread over both, so
    // pushes cross loops as well as stay on one.
    let (group, room) = chat::serve("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let mut members = Vec::new();
    for i in 0..6 {
        let s = TcpStream::connect(group.local_addr()).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut r = BufReader::new(s);
        // The server speaks first; the count proves the joins are in order.
        let welcome = line(&mut r);
        assert!(
            welcome.starts_with("welcome") && welcome.ends_with(&format!("{i} here already\n")),
            "member {i}: {welcome:?}"
        );
        members.push(r);
    }
    let end = Instant::now() + common::MUST;
    while room.headcount() < 6 {
        assert!(Instant::now() < end, "members did not join");
        std::thread::yield_now();
    }
    members[0].get_mut().write_all(b"hello room\n").unwrap();
    for (i, m) in members.iter_mut().enumerate().skip(1) {
        let got = line(m);
        assert!(got.ends_with(": hello room\n"), "member {i} got {got:?}");
    }
    // From another thread than any loop's.
    let announcer = std::thread::spawn({
        let room = std::sync::Arc::clone(&room);
        move || room.announce("server: closing soon\n")
    });
    announcer.join().unwrap();
    for (i, m) in members.iter_mut().enumerate() {
        assert_eq!(line(m), "server: closing soon\n", "member {i}");
    }
    // The sender did not get its own line back: the next thing it reads
    // is the announcement above, checked already. A member that leaves is
    // out of the room.
    drop(members.pop());
    let end = Instant::now() + common::MUST;
    while room.headcount() != 5 {
        assert!(
            Instant::now() < end,
            "a member that left is still in the room"
        );
        std::thread::yield_now();
    }
    group.stop();
    group.join().unwrap();
}

//! The greeter example: the server's banner arrives before the client
//! sends a byte, and names the client.

#[path = "../examples/greeter.rs"]
mod greeter;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn the_server_speaks_first() {
    let group = greeter::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let s = TcpStream::connect(group.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let me = s.local_addr().unwrap();
    let mut r = BufReader::new(s);
    let mut banner = String::new();
    r.read_line(&mut banner)
        .expect("a greeting without sending anything (10 s)");
    assert_eq!(banner, format!("220 hello {me}\r\n"));
    r.get_mut().write_all(b"shout\nquit\n").unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "SHOUT\r\n221 bye\r\n", "then the server closes");
    group.stop();
    group.join().unwrap();
}

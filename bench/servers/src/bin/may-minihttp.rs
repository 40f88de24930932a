//! may-minihttp on one may worker thread.

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _req: Request, res: &mut Response) -> io::Result<()> {
        res.header("Content-Type: text/plain");
        res.body(peer_servers::BODY);
        Ok(())
    }
}

fn main() -> io::Result<()> {
    may::config().set_workers(1);
    let server = HttpServer(Hello).start(peer_servers::addr())?;
    server
        .join()
        .map_err(|_| io::Error::other("the may-minihttp server panicked"))
}

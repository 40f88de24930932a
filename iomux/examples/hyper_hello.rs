//! hyper 1.x's HTTP/1.1 server on iomux::rt: `GET /plaintext` answers
//! `Hello, World!` (text/plain), anything else 404.
//!
//! ```text
//! cargo run --release -p iomux --features hyper --example hyper_hello -- --addr 127.0.0.1:8080 --driver epoll
//! ```
//! Prints `listening on ADDR` first.

#[path = "support/rt_args.rs"]
mod rt_args;

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use iomux::rt;
use iomux::rt::hyper::{HyperIo, HyperTimer};

async fn hello(req: Request<Incoming>) -> Result<Response<String>, Infallible> {
    let mut resp = if req.uri().path() == "/plaintext" {
        Response::new(String::from("Hello, World!"))
    } else {
        let mut r = Response::new(String::from("not found\n"));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(resp)
}

fn main() {
    let args = rt_args::parse(&rt_args::Usage {
        name: "hyper_hello",
        about: "hyper 1.x's HTTP/1.1 server on iomux::rt (GET /plaintext)",
        default_port: 8080,
        extra: &[],
    })
    .unwrap_or_else(|e| {
        eprintln!("hyper_hello: {e}");
        std::process::exit(2);
    });
    let served = rt_args::run(&args, |listener| async move {
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    eprintln!("hyper_hello: accept: {e}");
                    rt::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            conn.set_nodelay(true)?;
            rt::spawn_local(async move {
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(HyperIo::new(conn), hyper::service::service_fn(hello))
                    .await;
                if let Err(e) = served {
                    log::debug!("hyper_hello: connection: {e}");
                }
            });
        }
    });
    if let Err(e) = served {
        eprintln!("hyper_hello: {e}");
        std::process::exit(1);
    }
}

//! An axum `Router` on iomux::rt: hyper 1.x's HTTP/1.1 server through
//! `rt::hyper`, and the router as hyper's service through hyper-util's
//! tower adapter (`TowerToHyperService`).
//!
//! ```text
//! cargo run --release -p iomux --features example-axum --example axum_hello -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/plaintext
//! curl http://127.0.0.1:3000/hello/ferris
//! curl -d '{"numbers": [1, 2, 3.5]}' -H 'content-type: application/json' http://127.0.0.1:3000/sum
//! ```
//! Prints `listening on ADDR` first.
//!
//! Why not `axum::serve`: it takes a listener whose streams are tokio's
//! I/O traits *and `Send`*, and it starts each connection with
//! `tokio::spawn` (and hyper-util's `TokioExecutor`), which panics outside
//! a tokio runtime; it exists only with axum's `tokio` feature. The
//! runtime's streams are not `Send` (they belong to the thread that made
//! them), and its tasks are spawned with `rt::spawn_local`. The lines
//! that replace `axum::serve(listener, app).await`:
//!
//! ```text
//! loop {
//!     let (conn, _) = listener.accept().await?;
//!     let service = TowerToHyperService::new(app.clone());
//!     rt::spawn_local(
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer)
//!             .serve_connection(HyperIo::new(conn), service),
//!     );
//! }
//! ```
//! What the router's handlers do is unchanged: an axum handler is a plain
//! future. A handler that calls tokio's timer or I/O (`tokio::time::sleep`,
//! `tokio::net`) panics here for want of tokio's reactor: use `rt::time`
//! and `rt::net` in its place.

#[path = "support/rt_args.rs"]
mod rt_args;

use axum::Router;
use axum::extract::{Json, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use hyper_util::service::TowerToHyperService;
use iomux::rt;
use iomux::rt::hyper::{HyperIo, HyperTimer};
use serde_json::{Value, json};

/// The routes: `GET /plaintext`, `GET /hello/{name}` (a path parameter)
/// and `POST /sum` (a JSON body `{"numbers": [..]}` answered with
/// `{"count": n, "sum": s}`).
pub fn app() -> Router {
    Router::new()
        .route("/plaintext", get(|| async { "Hello, World!" }))
        .route(
            "/hello/{name}",
            get(|Path(name): Path<String>| async move { format!("Hello, {name}!") }),
        )
        .route("/sum", post(sum))
}

async fn sum(Json(body): Json<Value>) -> Result<Json<Value>, (StatusCode, String)> {
    let numbers = body.get("numbers").and_then(Value::as_array).ok_or((
        StatusCode::UNPROCESSABLE_ENTITY,
        "expected {\"numbers\": [..]}".to_string(),
    ))?;
    let mut sum = 0.0;
    for n in numbers {
        sum += n.as_f64().ok_or((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not a number: {n}"),
        ))?;
    }
    Ok(Json(json!({ "count": numbers.len(), "sum": sum })))
}

fn main() {
    let args = rt_args::parse(&rt_args::Usage {
        name: "axum_hello",
        about: "an axum Router on iomux::rt (GET /plaintext, GET /hello/{name}, POST /sum)",
        default_port: 3000,
        extra: &[],
    })
    .unwrap_or_else(|e| {
        eprintln!("axum_hello: {e}");
        std::process::exit(2);
    });
    let served = rt_args::run(&args, |listener| async move {
        let app = app();
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    eprintln!("axum_hello: accept: {e}");
                    rt::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            conn.set_nodelay(true)?;
            let service = TowerToHyperService::new(app.clone());
            rt::spawn_local(async move {
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .serve_connection(HyperIo::new(conn), service)
                    .await;
                if let Err(e) = served {
                    log::debug!("axum_hello: connection: {e}");
                }
            });
        }
    });
    if let Err(e) = served {
        eprintln!("axum_hello: {e}");
        std::process::exit(1);
    }
}

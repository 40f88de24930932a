//! actix-web with one worker.

use actix_web::{App, HttpResponse, HttpServer, web};

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(peer_servers::BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    HttpServer::new(|| App::new().default_service(web::to(hello)))
        .workers(1)
        .bind(peer_servers::addr())?
        .run()
        .await
}

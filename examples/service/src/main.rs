//! Runs the example service: against `MONGODB_URI`, or else the project's test server (started
//! for the process). Listens on `ADDR` (default `127.0.0.1:3000`). Logs to stderr: failed
//! requests, with the request they belong to.

use mongotic::{create_engine, create_indexes, sessionmaker};
use mongotic_example_service::{Post, User, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).init();
    let uri = match std::env::var("MONGODB_URI") {
        Ok(uri) => uri,
        Err(_) => mongotic_test_server::try_uri()?,
    };
    let engine = create_engine(&uri).await?.with_database("service");
    create_indexes::<(User, Post)>(&engine).await?;
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr} (database `service` at {uri}); Ctrl-C stops");
    axum::serve(listener, app(sessionmaker(&engine)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

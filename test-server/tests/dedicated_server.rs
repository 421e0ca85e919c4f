//! A dedicated server survives SIGKILL with its acknowledged writes, comes back on the same
//! port, and clients made before the crash reconnect.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use mongodb::Client;
use mongodb::bson::{Document, doc};
use mongotic_test_server::{DedicatedServer, Topology};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn crash_and_restart(topology: Topology) -> TestResult {
    let mut server = DedicatedServer::start(topology)?;
    let port = server.port();
    let client = Client::with_uri_str(server.uri()).await?;
    let items = client.database("crash").collection::<Document>("items");
    items.insert_one(doc! { "_id": 1, "name": "before the crash" }).await?;

    let killed_at = Instant::now();
    server.kill()?;
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "{topology:?}: still accepting after the kill");

    let restarting_at = Instant::now();
    server.restart()?;
    eprintln!("{topology:?}: killed in {:?}, restarted in {:?}", restarting_at - killed_at, restarting_at.elapsed());
    assert_eq!(server.port(), port);

    // The client from before the crash: its pooled connections died with the server, and
    // it reconnects to the same address.
    let found = items.find_one(doc! { "_id": 1 }).await?;
    assert_eq!(found, Some(doc! { "_id": 1, "name": "before the crash" }), "{topology:?}");
    items.insert_one(doc! { "_id": 2 }).await?;
    assert_eq!(items.count_documents(doc! {}).await?, 2);
    client.shutdown().immediate(true).await;
    Ok(())
}

#[tokio::test]
async fn replica_set_survives_a_crash() -> TestResult {
    crash_and_restart(Topology::ReplicaSet).await
}

#[tokio::test]
async fn standalone_survives_a_crash() -> TestResult {
    crash_and_restart(Topology::Standalone).await
}

#[test]
fn kill_and_restart_are_idempotent_and_drop_stops_the_server() -> Result<(), String> {
    let mut server = DedicatedServer::start(Topology::ReplicaSet)?;
    let port = server.port();
    server.restart()?; // already running: nothing to do
    server.kill()?;
    server.kill()?; // already dead: nothing to do
    server.restart()?;
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(server);
    let refused = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_err();
    assert!(refused, "the server outlived its DedicatedServer");
    Ok(())
}

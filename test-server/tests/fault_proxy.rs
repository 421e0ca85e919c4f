//! The fault proxy loses a command's reply after the server applied it, or the command
//! itself, and leaves everything else alone; with a delay set, it holds every request for it.

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection};
use mongotic_test_server::{DedicatedServer, FaultProxy, Topology};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A collection on the server reached through the proxy, and the same one reached directly.
struct Fixture {
    // Field order is drop order: clients before the proxy before the server.
    through: Collection<Document>,
    direct: Collection<Document>,
    proxy: FaultProxy,
    _server: DedicatedServer,
}

async fn fixture() -> Result<Fixture, Box<dyn std::error::Error>> {
    let server = DedicatedServer::start(Topology::ReplicaSet)?;
    let proxy = FaultProxy::start(server.port())?;
    let mut options = ClientOptions::parse(proxy.uri()).await?;
    // Otherwise the driver resends a write whose connection failed, and hides the fault.
    options.retry_writes = Some(false);
    options.server_selection_timeout = Some(Duration::from_secs(10));
    let through = Client::with_options(options)?.database("proxied").collection("items");
    let direct = Client::with_uri_str(server.uri()).await?.database("proxied").collection("items");
    Ok(Fixture { through, direct, proxy, _server: server })
}

fn is_network_error(error: &mongodb::error::Error) -> bool {
    matches!(*error.kind, ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. })
}

#[tokio::test]
async fn lose_reply_applies_the_write_and_fails_the_client() -> TestResult {
    let fixture = fixture().await?;
    // Through the proxy once first, so the fault is not the connection's first message.
    fixture.through.insert_one(doc! { "_id": 0 }).await?;

    fixture.proxy.lose_reply("insert", 1);
    let error = match fixture.through.insert_one(doc! { "_id": 1 }).await {
        Ok(result) => return Err(format!("the insert succeeded: {result:?}").into()),
        Err(error) => error,
    };
    assert!(is_network_error(&error), "{error:?}");
    assert_eq!(fixture.proxy.injected(), 1);
    assert_eq!(fixture.direct.find_one(doc! { "_id": 1 }).await?, Some(doc! { "_id": 1 }));

    // Spent: the next insert goes through on a new connection.
    fixture.through.insert_one(doc! { "_id": 2 }).await?;
    assert_eq!(fixture.direct.count_documents(doc! {}).await?, 3);
    assert_eq!(fixture.proxy.injected(), 1);
    Ok(())
}

#[tokio::test]
async fn drop_request_keeps_the_write_from_the_server() -> TestResult {
    let fixture = fixture().await?;
    fixture.proxy.drop_request("insert", 1);
    let error = match fixture.through.insert_one(doc! { "_id": 1 }).await {
        Ok(result) => return Err(format!("the insert succeeded: {result:?}").into()),
        Err(error) => error,
    };
    assert!(is_network_error(&error), "{error:?}");
    assert_eq!(fixture.proxy.injected(), 1);
    assert_eq!(fixture.direct.find_one(doc! { "_id": 1 }).await?, None);

    // Other commands pass, and the fault is spent.
    assert_eq!(fixture.through.count_documents(doc! {}).await?, 0);
    fixture.through.insert_one(doc! { "_id": 1 }).await?;
    assert_eq!(fixture.direct.count_documents(doc! {}).await?, 1);
    Ok(())
}

#[tokio::test]
async fn reset_disarms_and_retried_reads_get_past_a_fault() -> TestResult {
    let fixture = fixture().await?;
    fixture.proxy.drop_request("insert", 5);
    fixture.proxy.reset();
    fixture.through.insert_one(doc! { "_id": 1 }).await?;
    assert_eq!(fixture.proxy.injected(), 0);

    // Retryable reads are on: the driver retries once on a new connection.
    fixture.proxy.drop_request("find", 1);
    assert_eq!(fixture.through.find_one(doc! { "_id": 1 }).await?, Some(doc! { "_id": 1 }));
    assert_eq!(fixture.proxy.injected(), 1);
    Ok(())
}

#[test]
fn dropping_the_proxy_closes_its_port() -> Result<(), String> {
    let server = DedicatedServer::start(Topology::Standalone)?;
    let proxy = FaultProxy::start(server.port())?;
    let port = proxy.port();
    let connection = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|err| err.to_string())?;
    drop(proxy);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "still listening");
    // The relayed connection was closed too: reading it ends at once.
    let mut byte = [0u8; 1];
    connection.set_read_timeout(Some(Duration::from_secs(5))).map_err(|err| err.to_string())?;
    let read = std::io::Read::read(&mut &connection, &mut byte);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(!matches!(&read, Err(err) if err.kind() == std::io::ErrorKind::WouldBlock), "still open");
    Ok(())
}

/// Each round trip through a delaying proxy takes at least the delay. (Only the lower bound is
/// asserted: how much longer a busy machine takes is not the proxy's doing.)
#[tokio::test]
async fn a_delay_holds_every_round_trip() -> TestResult {
    let fixture = fixture().await?;
    let database = fixture.through.client().database("proxied");
    // Connected, so the delayed round trips below are the commands alone.
    database.run_command(doc! { "ping": 1 }).await?;
    assert_eq!(fixture.proxy.delay(), Duration::ZERO);

    let delay = Duration::from_millis(20);
    fixture.proxy.set_delay(delay);
    assert_eq!(fixture.proxy.delay(), delay);
    for _ in 0..3 {
        let start = Instant::now();
        database.run_command(doc! { "ping": 1 }).await?;
        let took = start.elapsed();
        assert!(took >= delay, "a round trip took {took:?}, less than the delay");
    }
    let start = Instant::now();
    fixture.through.insert_one(doc! { "_id": 1 }).await?;
    fixture.through.find_one(doc! { "_id": 1 }).await?;
    assert!(start.elapsed() >= delay * 2, "two round trips took {:?}", start.elapsed());

    // Back to no delay: the commands still go through.
    fixture.proxy.set_delay(Duration::ZERO);
    assert_eq!(fixture.direct.count_documents(doc! {}).await?, 1);
    assert_eq!(fixture.through.count_documents(doc! {}).await?, 1);
    assert_eq!(fixture.proxy.injected(), 0);
    Ok(())
}

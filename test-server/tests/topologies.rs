//! Both shared servers start, and each advertises the topology it is meant to.

use mongodb::Client;
use mongodb::bson::doc;
use mongotic_test_server::{Topology, client_options_for, try_uri, uri_for};

#[tokio::test]
async fn each_topology_advertises_itself() -> mongodb::error::Result<()> {
    for topology in Topology::ALL {
        let Some(options) = client_options_for(topology, None).await else {
            eprintln!("{topology:?}: not configured, skipped");
            continue;
        };
        let client = Client::with_options(options)?;
        let hello = client.database("admin").run_command(doc! { "hello": 1 }).await?;
        assert_eq!(hello.get_bool("isWritablePrimary"), Ok(true), "{topology:?}: {hello}");
        match topology {
            Topology::ReplicaSet => assert!(hello.get_str("setName").is_ok(), "no setName: {hello}"),
            Topology::Standalone => assert!(!hello.contains_key("setName"), "a setName: {hello}"),
        }
        client.shutdown().immediate(true).await;
    }
    Ok(())
}

#[test]
fn each_topology_is_started_once_and_uri_is_the_replica_set() -> Result<(), String> {
    let replica_set = uri_for(Topology::ReplicaSet);
    assert_eq!(replica_set, uri_for(Topology::ReplicaSet));
    assert_eq!(replica_set, Some(try_uri()?));
    let standalone = uri_for(Topology::Standalone);
    assert_eq!(standalone, uri_for(Topology::Standalone));
    if standalone.is_some() {
        assert_ne!(standalone, replica_set);
    }
    Ok(())
}

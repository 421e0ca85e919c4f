//! Both shared servers start, and each advertises the topology it is meant to.
//!
//! A runner of its own (`libtest-mimic`), so that a topology the environment does not
//! provide (`MONGODB_URI` set without `MONGODB_URI_STANDALONE`) is reported as an ignored
//! test rather than as one that passed.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use mongodb::Client;
use mongodb::bson::doc;
use mongotic_test_server::{Topology, client_options_for, try_uri, uri_for};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let mut trials = vec![Trial::test(
        "each_topology_is_started_once_and_uri_is_the_replica_set",
        each_topology_is_started_once_and_uri_is_the_replica_set,
    )];
    for (name, topology) in [
        ("replica_set_advertises_itself", Topology::ReplicaSet),
        ("standalone_advertises_itself", Topology::Standalone),
    ] {
        trials.push(Trial::ignorable_test(name, move || advertises_itself(topology)));
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// The shared server of `topology` says it is one; ignored when the environment names no
/// server of that topology.
fn advertises_itself(topology: Topology) -> Result<Completion, Failed> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let Some(options) = client_options_for(topology, None).await else {
            return Ok(Completion::ignored_with(format!(
                "no {topology:?} server: MONGODB_URI is set without MONGODB_URI_STANDALONE"
            )));
        };
        let client = Client::with_options(options)?;
        let hello = client.database("admin").run_command(doc! { "hello": 1 }).await?;
        assert_eq!(hello.get_bool("isWritablePrimary"), Ok(true), "{topology:?}: {hello}");
        match topology {
            Topology::ReplicaSet => assert!(hello.get_str("setName").is_ok(), "no setName: {hello}"),
            Topology::Standalone => assert!(!hello.contains_key("setName"), "a setName: {hello}"),
        }
        client.shutdown().immediate(true).await;
        Ok(Completion::Completed)
    })
}

fn each_topology_is_started_once_and_uri_is_the_replica_set() -> Result<(), Failed> {
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

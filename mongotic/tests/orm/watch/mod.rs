//! Change streams (`mongotic::watch`): typed events and filters (`events`), the durable
//! consumer (`consumer`), and the randomized fault campaign of the consumer (`faults`).

mod consumer;
mod events;
mod faults;

use std::time::Duration;

use mongotic::prelude::*;
use mongotic::watch::{ChangeStream, Event};

/// The watched model of these tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "watch", collection = "items")]
pub struct Item {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<ObjectId>,
    pub key: String,
    pub n: i32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub fn item(key: &str, n: i32) -> Item {
    Item { id: None, key: key.into(), n, tags: Vec::new(), note: None }
}

/// The next event of `stream`, waiting at most ten seconds.
pub async fn next<M: Model>(stream: &mut ChangeStream<M>) -> mongotic::Result<Event<M>> {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the stream ended"),
        Err(_) => panic!("no event within 10 s"),
    }
}

/// Waits until `check` holds, polling, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

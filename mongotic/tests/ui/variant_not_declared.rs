use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[serde(tag = "kind")]
#[mongotic(collection = "events")]
enum Event {
    Click(Click),
}

// A model of its own collection, not declared as a variant of `Event`.
#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "clicks")]
struct Click {
    #[serde(rename = "_id")]
    id: i64,
}

fn main() {}

use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "events")]
enum Event {
    Click(Click),
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct Click {
    #[serde(rename = "_id")]
    id: i64,
}

fn main() {}

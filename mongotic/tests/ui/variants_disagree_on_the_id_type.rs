use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[serde(tag = "kind")]
#[mongotic(collection = "events")]
enum Event {
    Click(Click),
    View(View),
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct Click {
    #[serde(rename = "_id")]
    id: i64,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct View {
    #[serde(rename = "_id")]
    id: String,
}

fn main() {}

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
    #[mongotic(version)]
    rev: i64,
}

// The version field is stored under another name: the flush could not check it.
#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct View {
    #[serde(rename = "_id")]
    id: i64,
    #[mongotic(version)]
    version: i64,
}

fn main() {
    let _ = <Event as Model>::meta();
}

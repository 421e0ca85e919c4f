use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[serde(tag = "kind")]
#[mongotic(collection = "events")]
enum Event {
    Click(Click),
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct Click {
    #[serde(rename = "_id")]
    id: i64,
    url: String,
}

// The enum is the one writable copy of a document: a view is read-only.
fn stage(session: &mut Session) {
    session.add(Click { id: 1, url: "/".into() });
}

fn main() {
    let _ = stage;
}

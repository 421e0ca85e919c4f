use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[serde(tag = "kind")]
#[mongotic(collection = "events")]
enum Event {
    View(View),
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct View {
    #[serde(rename = "_id")]
    id: i64,
    millis: i64,
}

fn main() {
    let _ = select::<View>().filter(View::millis.gt("slow"));
}

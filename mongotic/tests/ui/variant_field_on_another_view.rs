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
    url: String,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct View {
    #[serde(rename = "_id")]
    id: i64,
    millis: i64,
}

fn main() {
    // `millis` is a field of the View variant: a query on clicks cannot use it.
    let _ = select::<Click>().filter(View::millis.gt(5));
}

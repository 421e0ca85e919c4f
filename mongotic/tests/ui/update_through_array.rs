use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Embedded)]
struct Stop {
    city: String,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "trips")]
struct Trip {
    #[serde(rename = "_id")]
    id: i64,
    stops: Vec<Stop>,
}

fn main() {
    // `$set` of a path through an array names no single value: it does not compile.
    let _ = update::<Trip>().set(Trip::stops.dot(Stop::city), "Oslo");
}

use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users", table = "users")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
}

fn main() {}

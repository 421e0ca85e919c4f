use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(database = "app")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
}

fn main() {}

use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users", index(keys(created_at = 2)))]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    created_at: i64,
}

fn main() {}

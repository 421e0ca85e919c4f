use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "docs")]
struct Doc {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    #[mongotic(updated_at)]
    updated_at: u64,
}

fn main() {}

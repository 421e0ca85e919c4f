use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "notes")]
struct Note {
    #[serde(rename = "_id")]
    id: Option<ObjectId>,
    #[mongotic(soft_delete)]
    deleted: bool,
}

fn main() {}

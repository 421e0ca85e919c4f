use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[mongotic(id)]
    id: Option<ObjectId>,
    name: String,
}

fn main() {}

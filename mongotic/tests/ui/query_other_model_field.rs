use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    name: String,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "posts")]
struct Post {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    title: String,
}

fn main() {
    let _ = select::<User>().filter(Post::title.eq("x"));
}

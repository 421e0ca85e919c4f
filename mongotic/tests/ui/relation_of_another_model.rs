use mongotic::prelude::*;
use mongotic::relation::Ref;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    id: i64,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "posts")]
struct Post {
    #[serde(rename = "_id")]
    id: i64,
    author: Ref<User>,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "comments")]
struct Comment {
    #[serde(rename = "_id")]
    id: i64,
    author: Ref<User>,
}

fn main() {
    // Comment's relation, loaded for posts.
    let _ = select::<Post>().load(Comment::author);
}

use mongotic::prelude::*;
use mongotic::relation::Ref;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    id: i64,
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "tags")]
struct Tag {
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

fn main() {
    // A reference to a tag is not a reference to a user, though both ids are i64.
    let _ = select::<Post>().filter(Post::author.eq(Ref::<Tag>::new(7)));
    // Nor is a plain field a relation.
    let _ = select::<Post>().load(Post::id);
}

use mongotic::aggregate::{avg, count, max, sum};
use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    id: i64,
    name: String,
    tags: Vec<String>,
    age: i32,
}

fn main() {
    // The sum of a string field, the average of a list, the maximum of a list.
    let _ = select::<User>().group_by(User::age).agg(sum(User::name));
    let _ = select::<User>().aggregate(avg(User::tags));
    let _ = select::<User>().aggregate(max(User::tags));
    // An aggregate's value has its type: a count is no string.
    let _ = select::<User>().group_by(User::name).agg(count()).having(count().gt("many"));
}

use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    name: String,
    age: Option<i32>,
}

fn main() {
    let _ = select::<User>().filter(User::age.gte("eighteen"));
    let _ = select::<User>().filter(User::name.eq(42));
}

use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    name: String,
    age: i32,
}

async fn names(session: &mut Session) {
    let _ = session.scalars(select::<User>().columns((User::name, User::age))).all().await;
}

fn main() {
    let _ = names;
}

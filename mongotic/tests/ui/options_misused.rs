use mongotic::options::{Hint, ReadPreference, WriteConcern};
use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "users")]
struct User {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    id: i64,
    name: String,
}

fn main() {
    // A read cannot take a write concern, an insert neither a hint nor a read preference.
    let _ = select::<User>().write_concern(WriteConcern::majority());
    let _ = insert::<User>().hint(Hint::Name("name_1".into()));
    let _ = insert::<User>().read_preference(ReadPreference::Nearest { options: None });
    let _ = select::<User>().distinct(User::name).hint(Hint::Name("name_1".into()));
}

use mongotic::prelude::*;

// A model without a soft-delete field or a tenant field: the methods that leave a scope do not
// exist for it, so a misplaced `with_deleted()` or `unscoped()` cannot hide a mistake.
#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "orders")]
struct Order {
    #[serde(rename = "_id")]
    id: Option<ObjectId>,
    total: f64,
}

fn misuse(mut session: Session, loaded: Tracked<Order>) {
    let _ = select::<Order>().with_deleted();
    let _ = select::<Order>().only_deleted();
    let _ = update::<Order>().unscoped();
    let _ = delete::<Order>().permanently();
    let _ = session.restore(&loaded);
}

fn main() {}

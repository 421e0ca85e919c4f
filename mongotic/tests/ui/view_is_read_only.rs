use mongotic::bson::{Document, doc};
use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "orders")]
struct Order {
    #[serde(rename = "_id")]
    id: Option<ObjectId>,
    status: String,
    total: f64,
}

fn paid() -> Vec<Document> {
    vec![doc! { "$match": { "status": "paid" } }]
}

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "paid_orders", view(on = Order, pipeline = paid))]
struct PaidOrder {
    #[serde(rename = "_id")]
    id: ObjectId,
    total: f64,
}

fn writes(mut session: Session, loaded: Tracked<PaidOrder>) {
    // Reads compile.
    let _ = select::<PaidOrder>().filter(PaidOrder::total.gt(10.0));
    let _ = loaded.read().total;
    // Writes do not.
    session.add(PaidOrder { id: ObjectId::new(), total: 1.0 });
    let _ = session.merge(PaidOrder { id: ObjectId::new(), total: 1.0 });
    let _ = session.delete(&loaded);
    loaded.write().total = 2.0;
    let _ = insert::<PaidOrder>();
    let _ = update::<PaidOrder>();
    let _ = delete::<PaidOrder>();
}

fn main() {}

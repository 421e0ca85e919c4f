// `is::<V>()` and `dot(V::field)` reach a variant only through a field holding its enum.
use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Embedded)]
struct Card { last4: String }

#[derive(Debug, Serialize, Deserialize, Embedded)]
struct Circle { radius: i64 }

#[derive(Debug, Serialize, Deserialize, Embedded)]
#[serde(tag = "method")]
enum Payment { Card(Card), Cash }

#[derive(Debug, Serialize, Deserialize, Model)]
#[mongotic(collection = "orders")]
struct Order {
    #[serde(rename = "_id")]
    id: i64,
    payment: Option<Payment>,
    card: Option<Card>,
}

fn main() {
    // Payment has no variant holding a circle.
    let _ = Order::payment.is::<Circle>();
    let _ = Order::payment.dot(Circle::radius).eq(1);
    // A card stored as itself is not an enum: there is no tag to test.
    let _ = Order::card.is::<Card>();
    // A variant's field holds its own type.
    let _ = Order::payment.dot(Card::last4).eq(4242);
}

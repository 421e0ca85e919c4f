// An embedded enum is internally tagged and each variant holds an embedded struct or nothing.
use mongotic::prelude::*;

#[derive(Debug, Serialize, Deserialize, Embedded)]
struct Card { last4: String }

#[derive(Debug, Serialize, Deserialize, Embedded)]
enum ExternallyTagged { Card(Card) }

#[derive(Debug, Serialize, Deserialize, Embedded)]
#[serde(tag = "method")]
enum StructVariant { Card { last4: String } }

#[derive(Debug, Serialize, Deserialize, Embedded)]
#[serde(tag = "method")]
enum LossyCatchAll {
    Card(Card),
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Serialize, Deserialize, Embedded)]
#[serde(tag = "method")]
enum NotEmbedded { Amount(Amount) }

#[derive(Debug, Serialize, Deserialize, mongotic::schema::BsonSchema)]
struct Amount { cents: i64 }

fn main() {}

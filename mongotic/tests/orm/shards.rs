//! Sharded collections: every write of a tracked entity, and every read a flush makes to
//! settle or explain one, filters on the whole shard key, as a `mongos` needs to route it (no
//! sharded cluster runs here: the commands are read through command monitoring and
//! `preview_flush`, and they run unchanged on a replica set or a standalone server).

use mongotic::WriteKind;
use mongotic::bson::{Bson, Document, doc};
use mongotic::prelude::*;

use crate::common::TestResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "shards", collection = "orders")]
#[mongotic(shard_key(region, id))]
pub struct Order {
    #[serde(rename = "_id")]
    pub id: i64,
    pub region: String,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "shards", collection = "invoices")]
#[mongotic(shard_key(region))]
pub struct Invoice {
    #[serde(rename = "_id")]
    pub id: i64,
    pub region: String,
    pub total: i64,
    #[serde(default)]
    #[mongotic(version)]
    pub version: i64,
}

/// The filters of the writes and reads a command holds, whatever its kind.
fn filters(name: &str, command: &Document) -> Vec<Document> {
    let list = |field: &str, key: &str| -> Vec<Document> {
        command
            .get_array(field)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Bson::as_document)
                    .filter_map(|item| item.get_document(key).ok().cloned())
                    .collect()
            })
            .unwrap_or_default()
    };
    match name {
        "update" => list("updates", "q"),
        "delete" => list("deletes", "q"),
        "bulkWrite" => command
            .get_array("ops")
            .map(|ops| {
                ops.iter()
                    .filter_map(Bson::as_document)
                    .filter(|op| !op.contains_key("insert"))
                    .filter_map(|op| op.get_document("filter").ok().cloned())
                    .collect()
            })
            .unwrap_or_default(),
        "find" => match command.get_document("filter") {
            // A read of several documents by key: one branch each.
            Ok(filter) if filter.contains_key("$or") => filter
                .get_array("$or")
                .map(|branches| branches.iter().filter_map(Bson::as_document).cloned().collect())
                .unwrap_or_default(),
            Ok(filter) => vec![filter.clone()],
            Err(_) => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Asserts that every filter of the logged commands `names` has `region` beside the id (or an
/// upsert's key), and counts them.
fn every_filter_has_the_shard_key(log: &mongotic_test_server::CommandLog, names: &[&str]) -> usize {
    let mut seen = 0;
    for name in names {
        for command in log.commands(name) {
            for filter in filters(name, &command) {
                // By id, or (an upsert) by its natural key: with the shard key either way.
                let by = filter.contains_key("_id") || filter.contains_key("email");
                assert!(by && filter.contains_key("region"), "{name}: {filter} in {command}");
                seen += 1;
            }
        }
    }
    seen
}

/// A customer known by e-mail, in a collection sharded on its region: upserted on its
/// natural key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "shards", collection = "customers")]
#[mongotic(shard_key(region))]
pub struct Customer {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    pub region: String,
    pub email: String,
    pub name: String,
}

/// Each kind of write of a tracked entity that a flush sends with a filter, one row each.
/// `stage!` matches on every row without a wildcard, and `every_kind_of_write_has_a_row`
/// checks the rows against the library's own `WriteKind`, so that a new kind of write cannot
/// leave this test without failing it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TrackedWrite {
    Update,
    Replace,
    Delete,
    VersionedUpdate,
    VersionedDelete,
    MergeThatCreates,
    Upsert,
}

impl TrackedWrite {
    const ALL: [TrackedWrite; 7] = [
        TrackedWrite::Update,
        TrackedWrite::Replace,
        TrackedWrite::Delete,
        TrackedWrite::VersionedUpdate,
        TrackedWrite::VersionedDelete,
        TrackedWrite::MergeThatCreates,
        TrackedWrite::Upsert,
    ];

    /// The kind of write the row's change is sent as.
    fn kind(self) -> WriteKind {
        match self {
            TrackedWrite::Update | TrackedWrite::VersionedUpdate => WriteKind::Update,
            TrackedWrite::Replace | TrackedWrite::MergeThatCreates => WriteKind::Replace,
            TrackedWrite::Delete | TrackedWrite::VersionedDelete => WriteKind::Delete,
            TrackedWrite::Upsert => WriteKind::Upsert,
        }
    }
}

/// The entities the rows change, stored before.
struct Stored {
    orders: Vec<Tracked<Order>>,
    invoices: Vec<Tracked<Invoice>>,
}

/// Stages the row's change in `session` (no I/O), on the stored entities: a macro, so that
/// it serves the async and the blocking session alike.
macro_rules! stage {
    ($write:expr, $session:expr, $stored:expr, $base:expr) => {{
        let (session, stored, base) = (&mut $session, &$stored, $base);
        match $write {
            TrackedWrite::Update => stored.orders[0].write().total += 1,
            TrackedWrite::Delete => session.delete(&stored.orders[1])?,
            TrackedWrite::Replace => {
                let id = stored.orders[2].read().id;
                session.merge(Order { id, region: "r2".into(), total: 99 })?;
            }
            TrackedWrite::VersionedUpdate => stored.invoices[0].write().total += 1,
            TrackedWrite::VersionedDelete => session.delete(&stored.invoices[1])?,
            TrackedWrite::MergeThatCreates => {
                session.merge(Invoice { id: base + 50, region: "r9".into(), total: 5, version: 0 })?;
            }
            TrackedWrite::Upsert => {
                let email = format!("c{base}@example.com");
                session.upsert(Customer::email, Customer { id: None, region: "r4".into(), email, name: "C".into() })?;
            }
        }
    }};
}

/// The `WriteKind` variants of the library's source.
fn write_kinds() -> Vec<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/error.rs")).unwrap_or_default();
    let Some((_, body)) = source.split_once("pub enum WriteKind {") else { return Vec::new() };
    let body = body.split('}').next().unwrap_or_default();
    body.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("//") && line.ends_with(','))
        .map(|line| line.trim_end_matches(',').to_owned())
        .collect()
}

fn every_kind_of_write_has_a_row() -> TestResult {
    let kinds = write_kinds();
    assert!(kinds.contains(&"Update".to_owned()), "read WriteKind's variants from the source: {kinds:?}");
    for kind in kinds {
        // An insert has no filter: the document itself holds the shard key.
        if kind == "Insert" {
            continue;
        }
        assert!(
            TrackedWrite::ALL.iter().any(|write| format!("{:?}", write.kind()) == kind),
            "no row of TrackedWrite sends a WriteKind::{kind}: add one, and stage it in `stage!`"
        );
    }
    Ok(())
}
test!(every_kind_of_write_has_a_row, needs = []);

scenario!(every_write_of_a_tracked_entity_filters_on_the_shard_key, |ctx| {
    let engine = ctx.engine.clone();
    for bulk_write in [true, false] {
        ctx.engine = engine.with_client_bulk_write(bulk_write);
        let mut session = ctx.session();
        let base = if bulk_write { 0 } else { 100 };
        let orders = session.add_all((0..4).map(|i| Order { id: base + i, region: format!("r{i}"), total: 10 }));
        let invoices =
            session.add_all((0..3).map(|i| Invoice { id: base + i, region: format!("r{i}"), total: 1, version: 0 }));
        aw!(session.commit())?;
        let stored = Stored { orders, invoices };
        ctx.log().clear();
        for write in TrackedWrite::ALL {
            stage!(write, session, stored, base);
        }
        let preview = aw!(session.preview_flush())?;
        for command in preview.commands() {
            let name = command.keys().next().cloned().unwrap_or_default();
            for filter in filters(&name, command) {
                assert!(filter.contains_key("region"), "previewed {name}: {filter}");
            }
        }
        aw!(session.commit())?;
        let seen = every_filter_has_the_shard_key(ctx.log(), &["update", "delete", "bulkWrite"]);
        assert_eq!(seen, TrackedWrite::ALL.len(), "one filter per row: {:?}", ctx.log().names());
        assert_eq!(aw!(ctx.count::<Order>(doc! { "_id": base + 2, "total": 99 })), 1);
        assert_eq!(aw!(ctx.count::<Customer>(doc! { "email": format!("c{base}@example.com"), "region": "r4" })), 1);
    }
});

scenario!(an_upsert_a_shard_key_with_the_id_cannot_route_is_refused_before_io, |ctx| {
    let mut session = ctx.session();
    ctx.log().clear();
    let err =
        aw!(session.execute(upsert::<Order>().on(Order::region).value(Order { id: 1, region: "eu".into(), total: 1 })))
            .expect_err("the shard key holds _id");
    assert!(matches!(err, mongotic::Error::InvalidStatement { .. }), "{err}");
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
});

scenario!(a_change_to_the_shard_key_is_refused_before_anything_is_sent, |ctx| {
    let mut session = ctx.session();
    let order = session.add(Order { id: 1, region: "eu".into(), total: 1 });
    aw!(session.commit())?;
    order.write().region = "us".into();
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("refused");
    assert!(matches!(err, mongotic::Error::ShardKeyChanged { .. }), "{err}");
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<Order>(doc! { "region": "eu" })), 1);
});

scenario!(the_reads_that_explain_a_write_filter_on_the_shard_key, |ctx| {
    // A versioned write that meets another version: the read that tells why filters by key.
    let mut session = ctx.session();
    let invoice = session.add(Invoice { id: 7, region: "eu".into(), total: 1, version: 0 });
    aw!(session.commit())?;
    aw!(ctx.update::<Invoice>(doc! { "_id": 7_i64 }, doc! { "$inc": { "version": 1 } }));
    invoice.write().total = 2;
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("a conflict");
    assert!(err.is_conflict(), "{err}");
    assert!(every_filter_has_the_shard_key(ctx.log(), &["find"]) >= 1, "{:?}", ctx.log().names());
});

scenario!(
    the_reads_that_settle_a_write_in_doubt_filter_on_the_shard_key,
    on = [Standalone],
    needs = [FailPoints],
    |ctx| {
        let mut session = ctx.session();
        session.add_all((0..3).map(|i| Order { id: i, region: format!("r{i}"), total: 1 }));
        // The driver retries a write once when its connection closes: both attempts fail.
        aw!(ctx.fail_commands(&["insert"], None, 2));
        ctx.log().clear();
        // The flush reads the inserts back at once, and the next one before it sends anything.
        let err = aw!(session.commit()).expect_err("the connection closed");
        aw!(ctx.fail_off());
        assert!(matches!(&err, mongotic::Error::Flush(_)), "{err}");
        aw!(session.commit())?;
        assert!(every_filter_has_the_shard_key(ctx.log(), &["find"]) >= 3, "{:?}", ctx.log().names());
        assert_eq!(aw!(ctx.count::<Order>(doc! {})), 3, "once each");
    }
);

scenario!(create_indexes_creates_the_shard_key_index, |ctx| {
    aw!(ctx.create_indexes::<Order>())?;
    let names = aw!(ctx.index_names::<Order>());
    assert!(names.contains(&"shard_key".to_owned()), "{names:?}");
});

/// A depot sharded on a nested field: its writes take the general path (the flush's
/// comparison watches only top-level key fields), which must carry and guard the key as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Site {
    pub zone: i64,
    pub street: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "shards", collection = "depots")]
#[mongotic(shard_key("site.zone", id))]
pub struct Depot {
    #[serde(rename = "_id")]
    pub id: i64,
    pub site: Site,
    pub stock: i64,
}

/// The filter of the update statement of `id` in the log.
fn update_filter_of(log: &mongotic_test_server::CommandLog, id: i64) -> Option<Document> {
    log.commands("update")
        .iter()
        .flat_map(|command| command.get_array("updates").cloned().unwrap_or_default())
        .filter_map(|update| update.as_document().and_then(|update| update.get_document("q").ok().cloned()))
        .find(|filter| filter.get_i64("_id") == Ok(id))
}

scenario!(a_nested_or_retyped_shard_key_is_carried_and_guarded_on_the_general_path, |ctx| {
    // Depot 2's zone is stored as an int32: the field reads it as an i64 of the same value.
    aw!(ctx.insert::<Depot>(vec![
        doc! { "_id": 1_i64, "site": { "zone": 7_i64, "street": "a" }, "stock": 1_i64 },
        doc! { "_id": 2_i64, "site": { "zone": 8_i32, "street": "b" }, "stock": 1_i64 },
    ]));
    let mut session = ctx.session();
    let one = aw!(session.get::<Depot>(1_i64))?.ok_or("depot 1")?;
    let two = aw!(session.get::<Depot>(2_i64))?.ok_or("depot 2")?;
    one.write().stock = 5;
    two.write().stock = 6;
    ctx.log().clear();
    aw!(session.commit())?;
    let first = update_filter_of(ctx.log(), 1).ok_or("no update of depot 1")?;
    assert_eq!(first.get_i64("site.zone").ok(), Some(7), "{first}");
    let second = update_filter_of(ctx.log(), 2).ok_or("no update of depot 2")?;
    assert!(
        matches!(second.get("site.zone"), Some(Bson::Int32(8) | Bson::Int64(8))),
        "the key's value, whatever its numeric type: {second}"
    );
    assert_eq!(aw!(ctx.count::<Depot>(doc! { "stock": { "$gt": 1_i64 } })), 2, "both updates matched");

    // A change of the nested key is refused before anything is sent.
    one.write().site.zone = 9;
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("refused");
    assert!(matches!(err, mongotic::Error::ShardKeyChanged { .. }), "{err}");
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
    assert_eq!(aw!(ctx.count::<Depot>(doc! { "site.zone": 7_i64 })), 1);
});

//! Latency mode (`MONGOTIC_BENCH_LATENCY_MS=1`): the same server behind a loopback proxy that
//! holds every request for the given time, as a network would (1 ms is a round trip to a
//! database in the same cloud region). Per workload, three sides:
//!
//! - mongotic, as the README shows it;
//! - the driver as most code is written: one call per document (`insert_one` per new
//!   document, `find_one` per id, `update_one` per changed document, `delete_one` per
//!   removed one);
//! - the best hand-written driver code: one command per kind of write, one `find` for many
//!   ids.
//!
//! Here round trips, not client CPU, decide the time, which is where a unit of work saves the
//! most.

use std::time::Duration;

use futures::TryStreamExt;
use mongotic::bson::{Document, doc, oid::ObjectId};
use mongotic::mongodb::options::ClientOptions;
use mongotic::prelude::*;
use mongotic_test_server::{CommandLog, FaultProxy, TestDb};

use super::{Person, Sample, Sides, median, ms, person, reset, sides, timed};

/// Documents per workload: the one-call-per-document side makes a round trip for each.
fn documents() -> usize {
    std::env::var("MONGOTIC_BENCH_LATENCY_DOCS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000)
}

/// One workload, done three ways. `prepare` runs untimed before every run.
trait LatencyWorkload {
    const NAME: &'static str;
    type State;
    async fn prepare(sides: &Sides, n: usize) -> Self::State;
    async fn orm(sides: &Sides, state: Self::State);
    async fn per_document(sides: &Sides, state: Self::State);
    async fn best(sides: &Sides, state: Self::State);
}

/// The ids of the first `n` stored people, in `_id` order.
async fn ids(sides: &Sides, n: usize) -> Vec<ObjectId> {
    let ids: Vec<Document> = sides
        .client
        .database(&sides.namespace.db)
        .collection::<Document>(&sides.namespace.coll)
        .find(doc! {})
        .projection(doc! { "_id": 1 })
        .sort(doc! { "_id": 1 })
        .limit(n as i64)
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("ids");
    ids.iter().filter_map(|d| d.get_object_id("_id").ok()).collect()
}

struct Insert;
impl LatencyWorkload for Insert {
    const NAME: &'static str = "insert (add_all + commit / insert_one each / insert_many)";
    type State = Vec<Person>;
    async fn prepare(sides: &Sides, n: usize) -> Vec<Person> {
        reset(sides, 0).await;
        (0..n).map(person).collect()
    }
    async fn orm(sides: &Sides, people: Vec<Person>) {
        let mut session = sides.factory.session();
        session.add_all(people);
        session.commit().await.expect("commit");
    }
    async fn per_document(sides: &Sides, people: Vec<Person>) {
        for person in people {
            sides.collection.insert_one(person).await.expect("insert_one");
        }
    }
    async fn best(sides: &Sides, people: Vec<Person>) {
        sides.collection.insert_many(people).await.expect("insert_many");
    }
}

struct LoadByIds;
impl LatencyWorkload for LoadByIds {
    const NAME: &'static str = "load by id (one select with in_ / find_one each / find with $in)";
    type State = Vec<ObjectId>;
    async fn prepare(sides: &Sides, n: usize) -> Vec<ObjectId> {
        if sides.collection.estimated_document_count().await.expect("count") < n as u64 {
            reset(sides, n).await;
        }
        ids(sides, n).await
    }
    async fn orm(sides: &Sides, ids: Vec<ObjectId>) {
        let mut session = sides.factory.session();
        let n = ids.len();
        let people = session.scalars(select::<Person>().filter(Person::id.in_(ids))).all().await.expect("select");
        assert_eq!(people.len(), n);
    }
    async fn per_document(sides: &Sides, ids: Vec<ObjectId>) {
        for id in ids {
            sides.collection.find_one(doc! { "_id": id }).await.expect("find_one").expect("found");
        }
    }
    async fn best(sides: &Sides, ids: Vec<ObjectId>) {
        let n = ids.len();
        let people: Vec<Person> = sides
            .collection
            .find(doc! { "_id": { "$in": ids } })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("collect");
        assert_eq!(people.len(), n);
    }
}

struct DirtyFlush;
impl LatencyWorkload for DirtyFlush {
    const NAME: &'static str = "change 1 field on each loaded, save (flush / update_one each / one update command)";
    type State = (mongotic::Session, Vec<Tracked<Person>>, Vec<Person>);
    async fn prepare(sides: &Sides, n: usize) -> Self::State {
        reset(sides, n).await;
        let mut session = sides.factory.session();
        let tracked = session.scalars(select::<Person>()).all().await.expect("load");
        let plain: Vec<Person> = sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("load");
        (session, tracked, plain)
    }
    async fn orm(_: &Sides, (mut session, tracked, _): Self::State) {
        super::bump_and_commit(&mut session, &tracked, |p: &mut Person| &mut p.score).await;
    }
    async fn per_document(sides: &Sides, (_, _, plain): Self::State) {
        for person in plain {
            let update = doc! { "$set": { "score": person.score + 1.0 } };
            sides.collection.update_one(doc! { "_id": person.id }, update).await.expect("update_one");
        }
    }
    async fn best(sides: &Sides, state: Self::State) {
        <super::DirtyFlush as super::Workload>::raw(sides, state).await
    }
}

/// What one request of an application typically does: load some entities by id, change them,
/// add new ones and remove others.
struct UnitOfWork;

/// The entities a [`UnitOfWork`] run loads and changes, and those it removes.
struct Request {
    session: mongotic::Session,
    change: Vec<ObjectId>,
    remove: Vec<ObjectId>,
    add: Vec<Person>,
}

impl LatencyWorkload for UnitOfWork {
    const NAME: &'static str =
        "a request: change n/10 loaded by id, add n/10, delete n/10 (commit / a call each / a command each)";
    type State = Request;
    async fn prepare(sides: &Sides, n: usize) -> Request {
        reset(sides, n).await;
        let tenth = (n / 10).max(1);
        let mut ids = ids(sides, 2 * tenth).await;
        let remove = ids.split_off(tenth);
        let add = (n..n + tenth).map(person).collect();
        Request { session: sides.factory.session(), change: ids, remove, add }
    }
    async fn orm(_: &Sides, Request { mut session, change, remove, add }: Request) {
        // The entities to change and those to delete, in one select.
        let wanted = change.iter().chain(&remove).copied();
        let loaded = session.scalars(select::<Person>().filter(Person::id.in_(wanted))).all().await.expect("select");
        for person in &loaded {
            if person.id().is_some_and(|id| remove.contains(&id)) {
                session.delete(person).expect("delete");
            } else {
                person.write().score += 1.0;
            }
        }
        session.add_all(add);
        session.commit().await.expect("commit");
    }
    async fn per_document(sides: &Sides, Request { change, remove, add, .. }: Request) {
        for id in change {
            let person = sides.collection.find_one(doc! { "_id": id }).await.expect("find_one").expect("found");
            let update = doc! { "$set": { "score": person.score + 1.0 } };
            sides.collection.update_one(doc! { "_id": id }, update).await.expect("update_one");
        }
        for person in add {
            sides.collection.insert_one(person).await.expect("insert_one");
        }
        for id in remove {
            sides.collection.delete_one(doc! { "_id": id }).await.expect("delete_one");
        }
    }
    async fn best(sides: &Sides, Request { change, remove, add, .. }: Request) {
        let loaded: Vec<Person> = sides
            .collection
            .find(doc! { "_id": { "$in": change } })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("collect");
        let updates: Vec<Document> = loaded
            .iter()
            .map(|person| doc! { "q": { "_id": person.id }, "u": { "$set": { "score": person.score + 1.0 } } })
            .collect();
        let command = doc! { "update": &sides.namespace.coll, "updates": updates, "ordered": true };
        sides.client.database(&sides.namespace.db).run_command(command).await.expect("update");
        sides.collection.insert_many(add).await.expect("insert_many");
        sides.collection.delete_many(doc! { "_id": { "$in": remove } }).await.expect("delete_many");
    }
}

/// [`UnitOfWork`] with mongotic's sessions sending a command per kind of write instead of one
/// client `bulkWrite` (`Engine::with_client_bulk_write(false)`): more round trips, but on a
/// server whose `bulkWrite` costs more than the separate commands, it can be faster.
struct UnitOfWorkSeparately;

impl LatencyWorkload for UnitOfWorkSeparately {
    const NAME: &'static str =
        "the same request, mongotic without client bulkWrite (commit / a call each / a command each)";
    type State = Request;
    async fn prepare(sides: &Sides, n: usize) -> Request {
        let mut request = UnitOfWork::prepare(sides, n).await;
        request.session = sides.separate.session();
        request
    }
    async fn orm(sides: &Sides, request: Request) {
        UnitOfWork::orm(sides, request).await
    }
    async fn per_document(sides: &Sides, request: Request) {
        UnitOfWork::per_document(sides, request).await
    }
    async fn best(sides: &Sides, request: Request) {
        UnitOfWork::best(sides, request).await
    }
}

/// The medians and round trips of one workload.
struct Row {
    name: &'static str,
    orm: Vec<Sample>,
    per_document: Vec<Sample>,
    best: Vec<Sample>,
    trips: [usize; 3],
}

async fn measure<W: LatencyWorkload>(timed_sides: &Sides, counted: &Sides, log: &CommandLog, runs: usize) -> Row {
    let n = documents();
    // A warm-up of each side, then the sides in turn so drift hits all alike.
    W::orm(timed_sides, W::prepare(timed_sides, n).await).await;
    W::per_document(timed_sides, W::prepare(timed_sides, n).await).await;
    W::best(timed_sides, W::prepare(timed_sides, n).await).await;
    let (mut orm, mut per_document, mut best) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let state = W::prepare(timed_sides, n).await;
        orm.push(timed(W::orm(timed_sides, state)).await);
        let state = W::prepare(timed_sides, n).await;
        per_document.push(timed(W::per_document(timed_sides, state)).await);
        let state = W::prepare(timed_sides, n).await;
        best.push(timed(W::best(timed_sides, state)).await);
    }
    let mut trips = [0; 3];
    let state = W::prepare(counted, n).await;
    log.clear();
    W::orm(counted, state).await;
    trips[0] = log.len();
    let state = W::prepare(counted, n).await;
    log.clear();
    W::per_document(counted, state).await;
    trips[1] = log.len();
    let state = W::prepare(counted, n).await;
    log.clear();
    W::best(counted, state).await;
    trips[2] = log.len();
    eprintln!("measured: {}", W::NAME);
    Row { name: W::NAME, orm, per_document, best, trips }
}

fn print_rows(rows: &[Row], delay: Duration, n: usize) {
    println!(
        "\n{} documents per workload, every request held {:.1} ms by the proxy\n\n\
         | workload | mongotic ms | driver, a call per document ms | driver, best hand-written ms | \
         mongotic / a call per document | mongotic / best | round trips (mongotic / a call per document / best) | \
         client CPU ms (mongotic / a call per document / best) |",
        n,
        delay.as_secs_f64() * 1000.0
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let wall = |samples: &[Sample]| median(samples.iter().map(|s| s.wall).collect());
        let cpu = |samples: &[Sample]| ms(median(samples.iter().map(|s| s.cpu).collect()));
        let (orm, per_document, best) = (wall(&row.orm), wall(&row.per_document), wall(&row.best));
        println!(
            "| {} | {} | {} | {} | {:.3}x | {:.2}x | {} / {} / {} | {} / {} / {} |",
            row.name,
            ms(orm),
            ms(per_document),
            ms(best),
            orm.as_secs_f64() / per_document.as_secs_f64().max(1e-9),
            orm.as_secs_f64() / best.as_secs_f64().max(1e-9),
            row.trips[0],
            row.trips[1],
            row.trips[2],
            cpu(&row.orm),
            cpu(&row.per_document),
            cpu(&row.best),
        );
    }
}

/// The server's loopback port, from its connection string: the proxy forwards to loopback
/// only.
async fn server_port(uri: &str) -> u16 {
    let options = ClientOptions::parse(uri).await.expect("uri");
    match options.hosts.as_slice() {
        [mongotic::mongodb::options::ServerAddress::Tcp { host, port }]
            if host == "127.0.0.1" || host == "localhost" =>
        {
            port.unwrap_or(27017)
        }
        hosts => panic!("latency mode needs one server on loopback to put the proxy in front of, not {hosts:?}"),
    }
}

/// Runs the latency mode with every request held `delay`.
pub(super) fn run(runtime: &tokio::runtime::Runtime, delay: Duration, runs: usize, only: &str) {
    let uri = mongotic_test_server::uri();
    let port = runtime.block_on(server_port(&uri));
    let proxy = FaultProxy::start(port).expect("proxy");
    proxy.set_delay(delay);
    let db = TestDb::new();
    let log = CommandLog::new();
    runtime.block_on(async {
        let timed_sides = sides(&proxy.uri(), db.name(), None).await;
        let counted_sides = sides(&proxy.uri(), db.name(), Some(&log)).await;
        println!("server: {uri} behind a proxy at {}; {runs} timed runs per side, medians", proxy.uri());
        let wanted = |name: &str| name.contains(only);
        let mut rows = Vec::new();
        if wanted(Insert::NAME) {
            rows.push(measure::<Insert>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(LoadByIds::NAME) {
            rows.push(measure::<LoadByIds>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(DirtyFlush::NAME) {
            rows.push(measure::<DirtyFlush>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(UnitOfWork::NAME) {
            rows.push(measure::<UnitOfWork>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(UnitOfWorkSeparately::NAME) {
            rows.push(measure::<UnitOfWorkSeparately>(&timed_sides, &counted_sides, &log, runs).await);
        }
        print_rows(&rows, delay, documents());
    });
    drop(db);
    drop(proxy);
}

//! mongotic against the raw `mongodb` driver doing the same work, on the same server, in one
//! run. For each workload it prints the median wall time of several runs for both, their
//! ratio, the round trips each needed (counted with command monitoring, in a separate run so
//! monitoring does not slow the timed ones), and the client process's CPU time, so the
//! server's share is visible apart from ours. Then the memory a session retains per tracked
//! entity beyond the entity itself, from a counting allocator.
//!
//! ```text
//! cargo bench -p mongotic --bench orm_vs_driver                 # the project's test server
//! MONGODB_URI=mongodb://host:27017 cargo bench -p mongotic --bench orm_vs_driver
//! scripts/bench-rust-server.sh                                  # the Rust build of the server
//! ```
//!
//! `MONGOTIC_BENCH_RUNS` sets the number of timed runs per side (default 11);
//! `MONGOTIC_BENCH_ONLY=read` runs only the workloads whose name contains the text (handy
//! under a profiler). Five other modes:
//!
//! - `MONGOTIC_BENCH_LATENCY_MS=1`: the server behind a proxy that holds every request that
//!   long, and each workload done by mongotic, by the driver one call per document, and by the
//!   best hand-written driver code (`latency.rs`).
//! - `MONGOTIC_BENCH_SCALING=1`: the workloads at 1,000 to 1,000,000 documents, time and peak
//!   memory per document (`scaling.rs`).
//! - `MONGOTIC_BENCH_PROFILE=1`: each side run through its own function, for callgrind to count
//!   (`scripts/count-instructions.sh`).
//! - `MONGOTIC_BENCH_MIGRATE=1`: a backfill migration over 10,000 and 100,000 documents
//!   against a hand-written driver loop doing the same updates in bulk (`migrate.rs`).
//! - `MONGOTIC_BENCH_WATCH=1`: events per second through a change stream consumer against a
//!   raw driver watch loop (`watch.rs`).
//!
//! After the main table, a breakdown per workload and side: user and system CPU, minor page
//! faults, allocations and bytes allocated, and the process's peak resident memory
//! (`usage.rs`). `MONGOTIC_BENCH_SIDE=orm` (or `raw`) times one side only, so that it runs in
//! a process of its own: `scripts/bench-sides-apart.sh` runs each side that way and prints
//! both.

mod latency;
mod migrate;
mod scaling;
mod usage;
mod watch;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mongotic::bson::{Document, doc, oid::ObjectId};
use mongotic::mongodb::options::ClientOptions;
use mongotic::mongodb::{Client, Collection, Namespace};
use mongotic::prelude::*;
use mongotic::{Engine, SessionFactory, TransactionMode};
use mongotic_test_server::{CommandLog, TestDb};

/// Counts the bytes currently allocated, to measure what a session retains, and (in the
/// scaling mode) the most allocated at once.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);
/// Off unless the scaling mode measures peaks: tracking costs an atomic maximum per
/// allocation.
static TRACK_PEAK: AtomicBool = AtomicBool::new(false);

fn grown(delta: isize) {
    let live = LIVE_BYTES.fetch_add(delta, Ordering::Relaxed) + delta;
    if delta > 0 && TRACK_PEAK.load(Ordering::Relaxed) {
        PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grown(layout.size() as isize);
        usage::allocated(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grown(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grown(new_size as isize - layout.size() as isize);
        usage::allocated(new_size.saturating_sub(layout.size()));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Starts tracking the peak from now: returns the bytes allocated now, to subtract from
/// [`peak_bytes`].
fn start_peak() -> isize {
    TRACK_PEAK.store(true, Ordering::Relaxed);
    let now = live_bytes();
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}

/// The most bytes allocated at once since [`start_peak`].
fn peak_bytes() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

/// CPU time of this process (all threads), from `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`.
fn process_cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut time = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid pointer to a properly laid out timespec; the call only writes to it.
    let status = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "people")]
struct Person {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    email: String,
    age: i32,
    city: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
}

/// `Person` with a version field, over the same documents (they read as version 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "people")]
struct VersionedPerson {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    email: String,
    age: i32,
    city: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
    #[serde(default)]
    #[mongotic(version)]
    version: i64,
}

/// `Person` in a collection sharded on `(city, _id)`, over the same documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "people")]
#[mongotic(shard_key(city, id))]
struct ShardedPerson {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    email: String,
    age: i32,
    city: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
}

/// `Person` known by e-mail, for the upsert workload (the collection has a unique index on
/// `email`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "people")]
struct KeyedPerson {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    email: String,
    age: i32,
    city: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
}

/// Three kinds of event in one collection, as a polymorphic model: the enum both sides
/// decode (the driver through serde's internally tagged path, mongotic by reading the tag
/// from the raw bytes and decoding the variant directly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[mongotic(database = "bench", collection = "events")]
enum Event {
    Click(Click),
    PageView(PageView),
    Purchase(Purchase),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct Click {
    #[serde(rename = "_id")]
    id: ObjectId,
    user: String,
    url: String,
    x: i32,
    y: i32,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct PageView {
    #[serde(rename = "_id")]
    id: ObjectId,
    user: String,
    path: String,
    millis: i64,
    referrer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
struct Purchase {
    #[serde(rename = "_id")]
    id: ObjectId,
    user: String,
    order: String,
    total: f64,
    items: i32,
    paid: bool,
}

/// `n` events, the three variants in turn.
fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let user = format!("user{}", i % 97);
            match i % 3 {
                0 => Event::Click(Click {
                    id: ObjectId::new(),
                    user,
                    url: format!("/page/{}", i % 50),
                    x: (i % 1_280) as i32,
                    y: (i % 720) as i32,
                    tags: vec!["ui".into(), format!("t{}", i % 7)],
                }),
                1 => Event::PageView(PageView {
                    id: ObjectId::new(),
                    user,
                    path: format!("/page/{}", i % 50),
                    millis: (i % 2_000) as i64,
                    referrer: (i % 2 == 0).then(|| "https://example.com".to_owned()),
                }),
                _ => Event::Purchase(Purchase {
                    id: ObjectId::new(),
                    user,
                    order: format!("order-{i}"),
                    total: (i % 500) as f64 * 1.25,
                    items: (i % 9) as i32 + 1,
                    paid: i % 5 != 0,
                }),
            }
        })
        .collect()
}

/// `Person` with a tenant field, over the same documents (each stamped with one tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "bench", collection = "people")]
struct TenantPerson {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    name: String,
    email: String,
    age: i32,
    city: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
    #[mongotic(tenant)]
    tenant: String,
}

#[derive(Debug, Deserialize)]
struct NameAge {
    #[allow(dead_code)]
    name: String,
    #[allow(dead_code)]
    age: i32,
}

fn person(i: usize) -> Person {
    Person {
        id: None,
        name: format!("person {i}"),
        email: format!("person{i}@example.com"),
        age: (i % 90) as i32,
        city: ["Paris", "Lyon", "Nantes", "Lille"][i % 4].to_owned(),
        score: i as f64 * 0.5,
        active: !i.is_multiple_of(3),
        tags: vec!["a".into(), format!("t{}", i % 10)],
    }
}

fn people(n: usize) -> Vec<Person> {
    (0..n).map(person).collect()
}

/// Loads every `M` in `session`, changes each one's score and commits: the flush workloads.
async fn change_every_score<M: mongotic::Writable>(session: &mut Session, score: fn(&mut M) -> &mut f64) {
    let tracked = session.scalars(select::<M>()).all().await.expect("load");
    bump_and_commit(session, &tracked, score).await;
}

/// Changes the score of each of `tracked` and commits.
async fn bump_and_commit<M: mongotic::Writable>(
    session: &mut Session,
    tracked: &[Tracked<M>],
    score: fn(&mut M) -> &mut f64,
) {
    for entity in tracked {
        *score(&mut entity.write()) += 1.0;
    }
    session.commit().await.expect("commit");
}

/// The ORM side and the driver side, each with its own connection pool.
struct Sides {
    /// Sessions that flush without a transaction: the ORM's own cost against the driver's.
    factory: SessionFactory,
    /// Sessions that flush in a transaction (the default on a replica set).
    atomic: SessionFactory,
    /// Sessions that flush without a transaction and without the client `bulkWrite`: one
    /// command per collection and kind of write.
    separate: SessionFactory,
    collection: Collection<Person>,
    client: Client,
    namespace: Namespace,
}

async fn sides(uri: &str, db: &str, log: Option<&CommandLog>) -> Sides {
    let options = |log: Option<&CommandLog>| {
        let uri = uri.to_owned();
        let handler = log.map(CommandLog::handler);
        async move {
            let mut options = ClientOptions::parse(&uri).await.expect("uri");
            options.command_event_handler = handler;
            options
        }
    };
    let engine = Engine::from_options(options(log).await).expect("engine").with_database(db);
    let client = Client::with_options(options(log).await).expect("client");
    let collection = client.database(db).collection::<Person>("people");
    Sides {
        factory: sessionmaker(&engine.with_transactions(TransactionMode::Never)),
        atomic: sessionmaker(&engine.with_transactions(TransactionMode::Always)),
        separate: sessionmaker(&engine.with_transactions(TransactionMode::Never).with_client_bulk_write(false)),
        collection,
        client,
        namespace: Namespace::new(db, "people"),
    }
}

struct Sample {
    wall: Duration,
    cpu: Duration,
    usage: usage::Usage,
}

async fn timed<F: Future<Output = ()>>(work: F) -> Sample {
    let before = usage::Usage::now();
    let cpu = process_cpu_time();
    let start = Instant::now();
    work.await;
    let (wall, cpu) = (start.elapsed(), process_cpu_time().saturating_sub(cpu));
    Sample { wall, cpu, usage: usage::Usage::now().since(&before) }
}

/// Which sides this process times: both (the default), or one (`MONGOTIC_BENCH_SIDE=orm` or
/// `raw`), so that a side runs in a process of its own.
fn timed_sides() -> (bool, bool) {
    match std::env::var("MONGOTIC_BENCH_SIDE").as_deref() {
        Ok("orm") => (true, false),
        Ok("raw") => (false, true),
        _ => (true, true),
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

struct Row {
    name: &'static str,
    orm: Vec<Sample>,
    raw: Vec<Sample>,
    orm_trips: usize,
    raw_trips: usize,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n| workload | mongotic ms | driver ms | ratio | round trips (mongotic / driver) | client CPU ms (mongotic / driver) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let orm = median(row.orm.iter().map(|s| s.wall).collect());
        let raw = median(row.raw.iter().map(|s| s.wall).collect());
        let orm_cpu = median(row.orm.iter().map(|s| s.cpu).collect());
        let raw_cpu = median(row.raw.iter().map(|s| s.cpu).collect());
        // With one side timed (`MONGOTIC_BENCH_SIDE`), there is no ratio to give.
        let ratio = if row.orm.is_empty() || row.raw.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2}x", orm.as_secs_f64() / raw.as_secs_f64().max(1e-9))
        };
        println!(
            "| {} | {} | {} | {} | {} / {} | {} / {} |",
            row.name,
            ms(orm),
            ms(raw),
            ratio,
            row.orm_trips,
            row.raw_trips,
            ms(orm_cpu),
            ms(raw_cpu),
        );
    }
}

/// What each workload does on either side. `prepare` runs untimed before every run.
trait Workload {
    const NAME: &'static str;
    type State;
    async fn prepare(sides: &Sides) -> Self::State;
    async fn orm(sides: &Sides, state: Self::State);
    async fn raw(sides: &Sides, state: Self::State);
}

async fn reset(sides: &Sides, n: usize) {
    sides.collection.drop().await.expect("drop");
    if n > 0 {
        sides.collection.insert_many(people(n)).await.expect("seed");
    }
}

struct Insert;
impl Workload for Insert {
    const NAME: &'static str = "insert 10,000 (add_all + commit / insert_many)";
    type State = Vec<Person>;
    async fn prepare(sides: &Sides) -> Vec<Person> {
        reset(sides, 0).await;
        people(10_000)
    }
    async fn orm(sides: &Sides, people: Vec<Person>) {
        let mut session = sides.factory.session();
        session.add_all(people);
        session.commit().await.expect("commit");
    }
    async fn raw(sides: &Sides, people: Vec<Person>) {
        sides.collection.insert_many(people).await.expect("insert_many");
    }
}

struct Read;
impl Workload for Read {
    const NAME: &'static str = "read 10,000 (tracked entities / typed find into Vec)";
    type State = ();
    async fn prepare(sides: &Sides) {
        if sides.collection.estimated_document_count().await.expect("count") != 10_000 {
            reset(sides, 10_000).await;
        }
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let all = session.scalars(select::<Person>()).all().await.expect("all");
        assert_eq!(all.len(), 10_000);
        // Drop outside the measured call would need the session to outlive it; dropping is
        // part of using a session, so it is measured on this side as on the other.
    }
    async fn raw(sides: &Sides, _: ()) {
        let all: Vec<Person> =
            sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("collect");
        assert_eq!(all.len(), 10_000);
    }
}

struct UntrackedRead;
impl Workload for UntrackedRead {
    const NAME: &'static str = "read 10,000 untracked (plain values / typed find into Vec)";
    type State = ();
    async fn prepare(sides: &Sides) {
        Read::prepare(sides).await;
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let people = session.scalars(select::<Person>().untracked()).all().await.expect("all");
        assert_eq!(people.len(), 10_000);
    }
    async fn raw(sides: &Sides, _: ()) {
        Read::raw(sides, ()).await
    }
}

struct DirtyFlush;
impl Workload for DirtyFlush {
    const NAME: &'static str = "change 1 field on 1,000 loaded, flush (/ one update command)";
    type State = (mongotic::Session, Vec<Tracked<Person>>, Vec<Person>);
    async fn prepare(sides: &Sides) -> Self::State {
        reset(sides, 1_000).await;
        let mut session = sides.factory.session();
        let tracked = session.scalars(select::<Person>()).all().await.expect("load");
        let plain: Vec<Person> = sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("load");
        (session, tracked, plain)
    }
    async fn orm(_: &Sides, (mut session, tracked, _): Self::State) {
        bump_and_commit(&mut session, &tracked, |p: &mut Person| &mut p.score).await;
    }
    /// The driver's best single command for per-document changes: one `update` command with a
    /// statement per document (`Client::bulk_write` with `UpdateOneModel`s is slower here).
    async fn raw(sides: &Sides, (_, _, plain): Self::State) {
        let updates: Vec<Document> = plain
            .iter()
            .map(|person| doc! { "q": { "_id": person.id }, "u": { "$set": { "score": person.score + 1.0 } } })
            .collect();
        let command = doc! { "update": &sides.namespace.coll, "updates": updates, "ordered": true };
        sides.client.database(&sides.namespace.db).run_command(command).await.expect("update");
    }
}

/// What a transaction costs: the same flushes as `Insert` and `DirtyFlush`, in a transaction
/// (the "orm" column) and without one (the "raw" column).
struct AtomicInsert;
impl Workload for AtomicInsert {
    const NAME: &'static str = "insert 10,000: in a transaction / without";
    type State = Vec<Person>;
    async fn prepare(sides: &Sides) -> Vec<Person> {
        Insert::prepare(sides).await
    }
    async fn orm(sides: &Sides, people: Vec<Person>) {
        let mut session = sides.atomic.session();
        session.add_all(people);
        session.commit().await.expect("commit");
    }
    async fn raw(sides: &Sides, people: Vec<Person>) {
        Insert::orm(sides, people).await
    }
}

struct AtomicDirtyFlush;
impl Workload for AtomicDirtyFlush {
    const NAME: &'static str = "flush 1,000 dirty: in a transaction / without";
    type State = (mongotic::Session, Vec<Tracked<Person>>);
    async fn prepare(sides: &Sides) -> Self::State {
        reset(sides, 1_000).await;
        (sides.factory.session(), Vec::new())
    }
    async fn orm(sides: &Sides, _: Self::State) {
        let mut session = sides.atomic.session();
        change_every_score::<Person>(&mut session, |p| &mut p.score).await;
    }
    async fn raw(_: &Sides, (mut session, _): Self::State) {
        change_every_score::<Person>(&mut session, |p| &mut p.score).await;
    }
}

/// What a version field costs: the same flush of 1,000 changed entities, versioned (the "orm"
/// column) and not (the "raw" column); both one `update` command, without a transaction.
struct VersionedDirtyFlush;
impl Workload for VersionedDirtyFlush {
    const NAME: &'static str = "flush 1,000 dirty: versioned / not";
    type State = ();
    async fn prepare(sides: &Sides) {
        reset(sides, 1_000).await;
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        change_every_score::<VersionedPerson>(&mut session, |p| &mut p.score).await;
    }
    async fn raw(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        change_every_score::<Person>(&mut session, |p| &mut p.score).await;
    }
}

/// What options cost: the same tracked read, with a session's usual options (a time limit, a
/// server time limit, a comment, a read concern) in the "orm" column and without in the "raw".
struct OptionsRead;
impl Workload for OptionsRead {
    const NAME: &'static str = "read 10,000 tracked: with options / without";
    type State = ();
    async fn prepare(sides: &Sides) {
        Read::prepare(sides).await;
    }
    async fn orm(sides: &Sides, _: ()) {
        let options = mongotic::options::Options::new()
            .timeout(Duration::from_secs(30))
            .max_time(Duration::from_secs(20))
            .comment("bench")
            .read_concern(mongotic::options::ReadConcern::local());
        let mut session = sides.factory.session();
        session.set_options(options);
        let all = session.scalars(select::<Person>()).all().await.expect("all");
        assert_eq!(all.len(), 10_000);
    }
    async fn raw(sides: &Sides, _: ()) {
        Read::orm(sides, ()).await
    }
}

/// What a shard key costs: the same flush of 1,000 changed entities, in a collection sharded
/// on `(city, _id)` (the "orm" column) and not (the "raw" column).
struct ShardedDirtyFlush;
impl Workload for ShardedDirtyFlush {
    const NAME: &'static str = "flush 1,000 dirty: sharded key / not";
    type State = ();
    async fn prepare(sides: &Sides) {
        reset(sides, 1_000).await;
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        change_every_score::<ShardedPerson>(&mut session, |p| &mut p.score).await;
    }
    async fn raw(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        change_every_score::<Person>(&mut session, |p| &mut p.score).await;
    }
}

struct GetById;
impl Workload for GetById {
    const NAME: &'static str = "1,000 get by id (/ find_one)";
    type State = Vec<ObjectId>;
    async fn prepare(sides: &Sides) -> Vec<ObjectId> {
        Read::prepare(sides).await;
        let ids: Vec<Document> = sides
            .client
            .database(&sides.namespace.db)
            .collection::<Document>("people")
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .limit(1_000)
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("ids");
        ids.iter().filter_map(|d| d.get_object_id("_id").ok()).collect()
    }
    async fn orm(sides: &Sides, ids: Vec<ObjectId>) {
        let mut session = sides.factory.session();
        for id in ids {
            session.get::<Person>(id).await.expect("get").expect("found");
        }
    }
    async fn raw(sides: &Sides, ids: Vec<ObjectId>) {
        for id in ids {
            sides.collection.find_one(doc! { "_id": id }).await.expect("find_one").expect("found");
        }
    }
}

struct BulkUpdate;
impl Workload for BulkUpdate {
    const NAME: &'static str = "bulk update statement (/ update_many)";
    type State = ();
    async fn prepare(sides: &Sides) {
        Read::prepare(sides).await;
        sides.collection.update_many(doc! {}, doc! { "$set": { "active": true } }).await.expect("reset");
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let stmt = update::<Person>().filter(Person::age.gte(45)).set(Person::active, false);
        session.execute(stmt).await.expect("update");
    }
    async fn raw(sides: &Sides, _: ()) {
        sides
            .collection
            .update_many(doc! { "age": { "$gte": 45 } }, doc! { "$set": { "active": false } })
            .await
            .expect("update");
    }
}

struct Projection;
impl Workload for Projection {
    const NAME: &'static str = "project 2 fields over 10,000 (/ typed find)";
    type State = ();
    async fn prepare(sides: &Sides) {
        Read::prepare(sides).await;
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let rows = session.execute(select::<Person>().columns((Person::name, Person::age))).await.expect("find");
        assert_eq!(rows.all().await.expect("rows").len(), 10_000);
    }
    async fn raw(sides: &Sides, _: ()) {
        let rows: Vec<NameAge> = sides
            .collection
            .clone_with_type::<NameAge>()
            .find(doc! {})
            .projection(doc! { "name": 1, "age": 1 })
            .await
            .expect("find")
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(rows.len(), 10_000);
    }
}

/// A bulk upsert on a natural key: 10,000 values on `email`, half of them stored already (with
/// other scores), half new; the upsert statement (the "orm" column) against the driver's
/// hand-written `update` command of 10,000 `upsert: true` statements with the same filters and
/// updates (the "raw" column). Both unordered, one round trip.
struct BulkUpsert;
impl Workload for BulkUpsert {
    const NAME: &'static str = "upsert 10,000 on email, half new (upsert statement / update with upsert)";
    type State = Vec<KeyedPerson>;
    async fn prepare(sides: &Sides) -> Vec<KeyedPerson> {
        reset(sides, 5_000).await;
        let index = mongotic::mongodb::IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(mongotic::mongodb::options::IndexOptions::builder().unique(true).build())
            .build();
        sides.collection.create_index(index).await.expect("unique email");
        (0..10_000)
            .map(|i| {
                let p = person(i);
                KeyedPerson {
                    id: None,
                    name: p.name,
                    email: p.email,
                    age: p.age,
                    city: p.city,
                    score: p.score + 1.0,
                    active: p.active,
                    tags: p.tags,
                }
            })
            .collect()
    }
    async fn orm(sides: &Sides, values: Vec<KeyedPerson>) {
        let mut session = sides.factory.session();
        let done =
            session.execute(upsert::<KeyedPerson>().on(KeyedPerson::email).values(values)).await.expect("upsert");
        assert_eq!((done.inserted, done.matched), (5_000, 5_000));
    }
    async fn raw(sides: &Sides, values: Vec<KeyedPerson>) {
        let updates: Vec<Document> = values
            .iter()
            .map(|p| {
                doc! {
                    "q": { "email": &p.email },
                    "u": {
                        "$set": {
                            "name": &p.name, "age": p.age, "city": &p.city, "score": p.score,
                            "active": p.active, "tags": &p.tags,
                        },
                        "$setOnInsert": { "_id": ObjectId::new() },
                    },
                    "upsert": true,
                }
            })
            .collect();
        let command = doc! { "update": &sides.namespace.coll, "updates": updates, "ordered": false };
        let reply = sides.client.database(&sides.namespace.db).run_command(command).await.expect("update");
        assert_eq!(reply.get_array("upserted").map(Vec::len).unwrap_or(0), 5_000);
    }
}

/// What a tenant scope costs: 10,000 tracked entities of a tenant-scoped model read by a
/// session bound to the tenant (the "orm" column: the filter carries the tenant, and each
/// document is checked against it) and with `unscoped()` from an unbound session (the "raw"
/// column); the same documents, all of the one tenant.
struct TenantRead;
impl Workload for TenantRead {
    const NAME: &'static str = "read 10,000 tracked: tenant-scoped / unscoped";
    type State = ();
    async fn prepare(sides: &Sides) {
        let stamped = sides.collection.count_documents(doc! { "tenant": "acme" }).await.expect("count");
        if stamped != 10_000 {
            reset(sides, 10_000).await;
            sides.collection.update_many(doc! {}, doc! { "$set": { "tenant": "acme" } }).await.expect("stamp");
        }
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.for_tenant("acme").session();
        let all = session.scalars(select::<TenantPerson>()).all().await.expect("all");
        assert_eq!(all.len(), 10_000);
    }
    async fn raw(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let all = session.scalars(select::<TenantPerson>().unscoped()).all().await.expect("all");
        assert_eq!(all.len(), 10_000);
    }
}

/// A polymorphic model: 10,000 documents of a three-variant enum read as tracked entities,
/// against the driver decoding the same documents into the same serde enum.
struct PolymorphicRead;
impl Workload for PolymorphicRead {
    const NAME: &'static str = "read 10,000 of a 3-variant enum (tracked / typed find into the serde enum)";
    type State = ();
    async fn prepare(sides: &Sides) {
        let collection = event_collection(sides);
        if collection.estimated_document_count().await.expect("count") != 10_000 {
            collection.drop().await.expect("drop");
            collection.insert_many(events(10_000)).await.expect("seed");
        }
    }
    async fn orm(sides: &Sides, _: ()) {
        let mut session = sides.factory.session();
        let all = session.scalars(select::<Event>()).all().await.expect("all");
        assert_eq!(all.len(), 10_000);
    }
    async fn raw(sides: &Sides, _: ()) {
        let all: Vec<Event> =
            event_collection(sides).find(doc! {}).await.expect("find").try_collect().await.expect("collect");
        assert_eq!(all.len(), 10_000);
    }
}

/// `decode`: the two ways to decode a document of an enum model, in memory (no server): the
/// tag read from the raw bytes and the variant decoded directly (what mongotic does), and
/// serde's internally tagged path (what the driver does), which buffers the document first.
fn enum_decoding() {
    let raw: Vec<bson::RawDocumentBuf> =
        events(10_000).iter().map(|event| bson::to_raw_document_buf(event).expect("encode")).collect();
    let time = |decode: &dyn Fn(&bson::RawDocument) -> Event| {
        let mut best = Duration::MAX;
        for _ in 0..11 {
            let started = Instant::now();
            for doc in &raw {
                std::hint::black_box(decode(doc));
            }
            best = best.min(started.elapsed());
        }
        best
    };
    let direct = time(&|doc| <Event as Model>::__decode(doc).expect("decode"));
    let serde = time(&|doc| bson::from_slice::<Event>(doc.as_bytes()).expect("decode"));
    println!(
        "\ndecode 10,000 documents of a 3-variant enum, best of 11: tag from the raw bytes {:.2} ms, \
         serde's internally tagged path {:.2} ms ({:.2}x)",
        direct.as_secs_f64() * 1e3,
        serde.as_secs_f64() * 1e3,
        direct.as_secs_f64() / serde.as_secs_f64()
    );
}

fn event_collection(sides: &Sides) -> Collection<Event> {
    sides.client.database(&sides.namespace.db).collection("events")
}

async fn measure<W: Workload>(timed_sides: &Sides, counted_sides: &Sides, log: &CommandLog, runs: usize) -> Row {
    // One warm-up of each side, then alternate so drift hits both alike.
    let state = W::prepare(timed_sides).await;
    W::orm(timed_sides, state).await;
    let state = W::prepare(timed_sides).await;
    W::raw(timed_sides, state).await;
    let mut orm = Vec::new();
    let mut raw = Vec::new();
    let (time_orm, time_raw) = self::timed_sides();
    for _ in 0..runs {
        if time_orm {
            let state = W::prepare(timed_sides).await;
            orm.push(timed(W::orm(timed_sides, state)).await);
        }
        if time_raw {
            let state = W::prepare(timed_sides).await;
            raw.push(timed(W::raw(timed_sides, state)).await);
        }
    }
    let state = W::prepare(counted_sides).await;
    log.clear();
    W::orm(counted_sides, state).await;
    let orm_trips = log.len();
    let state = W::prepare(counted_sides).await;
    log.clear();
    W::raw(counted_sides, state).await;
    let raw_trips = log.len();
    eprintln!("measured: {}", W::NAME);
    Row { name: W::NAME, orm, raw, orm_trips, raw_trips }
}

/// Bytes a session retains per tracked entity beyond the entity itself: (live bytes after
/// loading 10,000 tracked entities) minus (live bytes after loading the same 10,000 into a
/// `Vec`), per entity.
async fn memory(sides: &Sides) {
    Read::prepare(sides).await;
    let before = live_bytes();
    let plain: Vec<Person> = sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("collect");
    let plain_bytes = live_bytes() - before;
    drop(plain);

    let before = live_bytes();
    let mut session = sides.factory.session();
    let tracked = session.scalars(select::<Person>()).all().await.expect("all");
    let tracked_bytes = live_bytes() - before;
    let n = tracked.len() as isize;
    // A change keeps the value as it was before it began, to diff against at flush.
    for entity in &tracked {
        entity.write().score += 1.0;
    }
    let changed_bytes = live_bytes() - before;
    drop(tracked);
    drop(session);
    println!(
        "\nmemory: {} bytes per entity in a plain Vec<Person>, {} per tracked entity in a session: \
         {} retained per tracked entity beyond the entity itself; {} more per entity once it has \
         pending changes (the serialized baseline)",
        plain_bytes / n,
        tracked_bytes / n,
        (tracked_bytes - plain_bytes) / n,
        (changed_bytes - tracked_bytes) / n,
    );
}

/// What a statement's span costs when no subscriber listens: the same `info_span!` as
/// mongotic's (target `mongotic`, its fields), created and recorded a million times.
fn span_cost() {
    use tracing::field::Empty;
    const N: u32 = 1_000_000;
    let start = Instant::now();
    for n in 0..N {
        let span = tracing::info_span!(
            target: "mongotic",
            "mongotic.statement",
            otel.name = %format_args!("find {n}"),
            db.system = "mongodb",
            db.operation.name = "find",
            db.response.returned_rows = Empty,
        );
        span.record("db.response.returned_rows", u64::from(n));
        std::hint::black_box(&span);
    }
    let per_span = start.elapsed() / N;
    println!("\ntracing: {per_span:?} per statement span (created, recorded, dropped) with no subscriber listening");
}

/// Runs one side of a workload to completion. Never inlined, so a profile names it: under
/// callgrind, its inclusive instruction count is exactly what that side cost the client
/// (including the driver's background tasks, which run on this thread while it waits).
#[inline(never)]
fn orm_side<W: Workload>(runtime: &tokio::runtime::Runtime, sides: &Sides, state: W::State) {
    runtime.block_on(W::orm(sides, state));
}

/// The driver's side of a workload; see [`orm_side`].
#[inline(never)]
fn raw_side<W: Workload>(runtime: &tokio::runtime::Runtime, sides: &Sides, state: W::State) {
    runtime.block_on(W::raw(sides, state));
}

/// `MONGOTIC_BENCH_PROFILE=1`: counts instead of timing. Runs each side of the workload once
/// to warm up, then `runs` times through [`orm_side`] and [`raw_side`]; under
/// `valgrind --tool=callgrind`, the inclusive counts of those two functions are the client's
/// instructions for each side (`scripts/count-instructions.sh` does it for every workload).
fn profile<W: Workload>(runtime: &tokio::runtime::Runtime, sides: &Sides, runs: usize) {
    let state = runtime.block_on(W::prepare(sides));
    runtime.block_on(W::orm(sides, state));
    let state = runtime.block_on(W::prepare(sides));
    runtime.block_on(W::raw(sides, state));
    for _ in 0..runs {
        let state = runtime.block_on(W::prepare(sides));
        orm_side::<W>(runtime, sides, state);
        let state = runtime.block_on(W::prepare(sides));
        raw_side::<W>(runtime, sides, state);
    }
    println!("profiled: {} ({runs} runs per side)", W::NAME);
}

fn main() {
    // `cargo bench` passes `--bench`; a test harness run (`cargo test --benches`) passes
    // nothing we need to act on, so only a bench run does the work.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runs = std::env::var("MONGOTIC_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(11);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let only = std::env::var("MONGOTIC_BENCH_ONLY").unwrap_or_default();
    if let Some(delay) = std::env::var("MONGOTIC_BENCH_LATENCY_MS").ok().and_then(|ms| ms.parse::<f64>().ok()) {
        let runs = std::env::var("MONGOTIC_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
        latency::run(&runtime, Duration::from_secs_f64(delay / 1000.0), runs, &only);
        return;
    }
    if std::env::var_os("MONGOTIC_BENCH_MIGRATE").is_some() {
        let runs = std::env::var("MONGOTIC_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
        migrate::run(&runtime, runs);
        return;
    }
    if std::env::var_os("MONGOTIC_BENCH_WATCH").is_some() {
        let runs = std::env::var("MONGOTIC_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
        watch::run(&runtime, runs);
        return;
    }
    if std::env::var_os("MONGOTIC_BENCH_SCALING").is_some() {
        scaling::run(&runtime, &only);
        return;
    }
    if std::env::var_os("MONGOTIC_BENCH_PROFILE").is_some() {
        let uri = mongotic_test_server::uri();
        let db = TestDb::new();
        let sides = runtime.block_on(sides(&uri, db.name(), None));
        let wanted = |name: &str| name.contains(only.as_str());
        if wanted(Insert::NAME) {
            profile::<Insert>(&runtime, &sides, runs);
        }
        if wanted(Read::NAME) {
            profile::<Read>(&runtime, &sides, runs);
        }
        if wanted(UntrackedRead::NAME) {
            profile::<UntrackedRead>(&runtime, &sides, runs);
        }
        if wanted(DirtyFlush::NAME) {
            profile::<DirtyFlush>(&runtime, &sides, runs);
        }
        if wanted(GetById::NAME) {
            profile::<GetById>(&runtime, &sides, runs);
        }
        if wanted(OptionsRead::NAME) {
            profile::<OptionsRead>(&runtime, &sides, runs);
        }
        if wanted(ShardedDirtyFlush::NAME) {
            profile::<ShardedDirtyFlush>(&runtime, &sides, runs);
        }
        if wanted(Projection::NAME) {
            profile::<Projection>(&runtime, &sides, runs);
        }
        if wanted(BulkUpsert::NAME) {
            profile::<BulkUpsert>(&runtime, &sides, runs);
        }
        if wanted(TenantRead::NAME) {
            profile::<TenantRead>(&runtime, &sides, runs);
        }
        if wanted(PolymorphicRead::NAME) {
            profile::<PolymorphicRead>(&runtime, &sides, runs);
        }
        runtime.block_on(async { drop(sides) });
        return;
    }
    runtime.block_on(async {
        let uri = mongotic_test_server::uri();
        let db = TestDb::new();
        let log = CommandLog::new();
        let timed_sides = sides(&uri, db.name(), None).await;
        let counted_sides = sides(&uri, db.name(), Some(&log)).await;
        let server = timed_sides
            .client
            .database("admin")
            .run_command(doc! { "buildInfo": 1 })
            .await
            .ok()
            .and_then(|info| info.get_str("version").ok().map(str::to_owned))
            .unwrap_or_default();
        println!("server: MongoDB {server} at {uri}; {runs} timed runs per side, medians");
        let wanted = |name: &str| name.contains(only.as_str());
        let mut rows = Vec::new();
        if wanted(Insert::NAME) {
            rows.push(measure::<Insert>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(Read::NAME) {
            rows.push(measure::<Read>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(UntrackedRead::NAME) {
            rows.push(measure::<UntrackedRead>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(DirtyFlush::NAME) {
            rows.push(measure::<DirtyFlush>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(AtomicInsert::NAME) && timed_sides.atomic.engine().supports_transactions().await.unwrap_or(false) {
            rows.push(measure::<AtomicInsert>(&timed_sides, &counted_sides, &log, runs).await);
            rows.push(measure::<AtomicDirtyFlush>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(VersionedDirtyFlush::NAME) {
            rows.push(measure::<VersionedDirtyFlush>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(GetById::NAME) {
            rows.push(measure::<GetById>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(OptionsRead::NAME) {
            rows.push(measure::<OptionsRead>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(ShardedDirtyFlush::NAME) {
            rows.push(measure::<ShardedDirtyFlush>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(BulkUpdate::NAME) {
            rows.push(measure::<BulkUpdate>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(Projection::NAME) {
            rows.push(measure::<Projection>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(BulkUpsert::NAME) {
            rows.push(measure::<BulkUpsert>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(TenantRead::NAME) {
            rows.push(measure::<TenantRead>(&timed_sides, &counted_sides, &log, runs).await);
        }
        if wanted(PolymorphicRead::NAME) {
            rows.push(measure::<PolymorphicRead>(&timed_sides, &counted_sides, &log, runs).await);
        }
        print_rows(&rows);
        let usages: Vec<(&str, Vec<usage::Usage>, Vec<usage::Usage>)> = rows
            .iter()
            .map(|row| {
                let of = |samples: &[Sample]| samples.iter().map(|sample| sample.usage).collect();
                (row.name, of(&row.orm), of(&row.raw))
            })
            .collect();
        usage::print_breakdown(usages.iter().map(|(name, orm, raw)| (*name, orm.as_slice(), raw.as_slice())));
        if only.is_empty() || only == "decode" {
            enum_decoding();
        }
        if only.is_empty() || only == "memory" {
            memory(&timed_sides).await;
        }
        if only.is_empty() || only == "tracing" {
            span_cost();
        }
    });
}

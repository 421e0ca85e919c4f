//! Scaling mode (`MONGOTIC_BENCH_SCALING=1`): the same workloads at growing sizes
//! (`MONGOTIC_BENCH_SIZES`, by default 1,000, 10,000, 100,000 and 1,000,000 documents), with
//! the time and the peak memory per document of each side and their ratio. Costs that grow
//! linearly keep the per-document figures flat from one size to the next; a stream of
//! untracked values keeps its total peak flat instead.
//!
//! `MONGOTIC_BENCH_CSV=path` also writes the rows to `path` as CSV, for
//! `scripts/plot-scaling.py` to draw (`mongotic/benches/results/scaling.csv` is an example).

use std::time::Duration;

use futures::TryStreamExt;
use mongotic::bson::{Document, doc};
use mongotic::prelude::*;
use mongotic_test_server::TestDb;

use super::{Person, Sides, live_bytes, median, people, reset, sides, start_peak, timed};

/// One workload at a given size. `prepare` runs untimed before every run, and what it
/// returns is allocated before the peak is measured from.
trait ScaledWorkload {
    const NAME: &'static str;
    type OrmState;
    type RawState;
    async fn prepare_orm(sides: &Sides, n: usize) -> Self::OrmState;
    async fn prepare_raw(sides: &Sides, n: usize) -> Self::RawState;
    async fn orm(sides: &Sides, state: Self::OrmState, n: usize);
    async fn raw(sides: &Sides, state: Self::RawState, n: usize);
}

/// Leaves exactly `n` people stored.
async fn stored(sides: &Sides, n: usize) {
    if sides.collection.estimated_document_count().await.expect("count") != n as u64 {
        reset(sides, n).await;
    }
}

struct Insert;
impl ScaledWorkload for Insert {
    const NAME: &'static str = "insert (add_all + commit / insert_many)";
    type OrmState = Vec<Person>;
    type RawState = Vec<Person>;
    async fn prepare_orm(sides: &Sides, n: usize) -> Vec<Person> {
        reset(sides, 0).await;
        people(n)
    }
    async fn prepare_raw(sides: &Sides, n: usize) -> Vec<Person> {
        Self::prepare_orm(sides, n).await
    }
    async fn orm(sides: &Sides, people: Vec<Person>, _: usize) {
        let mut session = sides.factory.session();
        session.add_all(people);
        session.commit().await.expect("commit");
    }
    async fn raw(sides: &Sides, people: Vec<Person>, _: usize) {
        sides.collection.insert_many(people).await.expect("insert_many");
    }
}

struct TrackedRead;
impl ScaledWorkload for TrackedRead {
    const NAME: &'static str = "tracked read (all into a Vec / typed find into a Vec)";
    type OrmState = ();
    type RawState = ();
    async fn prepare_orm(sides: &Sides, n: usize) {
        stored(sides, n).await;
    }
    async fn prepare_raw(sides: &Sides, n: usize) {
        stored(sides, n).await;
    }
    async fn orm(sides: &Sides, _: (), n: usize) {
        let mut session = sides.factory.session();
        let all = session.scalars(select::<Person>()).all().await.expect("all");
        assert_eq!(all.len(), n);
    }
    async fn raw(sides: &Sides, _: (), n: usize) {
        let all: Vec<Person> =
            sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("collect");
        assert_eq!(all.len(), n);
    }
}

/// Documents per batch of the streams.
const BATCH: u32 = 1_000;

struct UntrackedStream;
impl ScaledWorkload for UntrackedStream {
    const NAME: &'static str = "untracked stream (values one by one / typed cursor)";
    type OrmState = ();
    type RawState = ();
    async fn prepare_orm(sides: &Sides, n: usize) {
        stored(sides, n).await;
    }
    async fn prepare_raw(sides: &Sides, n: usize) {
        stored(sides, n).await;
    }
    async fn orm(sides: &Sides, _: (), n: usize) {
        let mut session = sides.factory.session();
        let mut people = session.scalars(select::<Person>().untracked().yield_per(BATCH)).stream();
        let mut seen = 0;
        while let Some(person) = people.try_next().await.expect("next") {
            std::hint::black_box(&person);
            seen += 1;
        }
        assert_eq!(seen, n);
    }
    async fn raw(sides: &Sides, _: (), n: usize) {
        let mut people = sides.collection.find(doc! {}).batch_size(BATCH).await.expect("find");
        let mut seen = 0;
        while let Some(person) = people.try_next().await.expect("next") {
            std::hint::black_box(&person);
            seen += 1;
        }
        assert_eq!(seen, n);
    }
}

/// Statements per hand-built `update` command: well under the server's limits on statements
/// and bytes per command.
const UPDATES_PER_COMMAND: usize = 10_000;

struct DirtyFlush;
impl ScaledWorkload for DirtyFlush {
    const NAME: &'static str = "change all loaded, flush (/ update commands of 10,000 statements)";
    type OrmState = (mongotic::Session, Vec<Tracked<Person>>);
    type RawState = Vec<Person>;
    async fn prepare_orm(sides: &Sides, n: usize) -> Self::OrmState {
        stored(sides, n).await;
        let mut session = sides.factory.session();
        let tracked = session.scalars(select::<Person>()).all().await.expect("load");
        (session, tracked)
    }
    async fn prepare_raw(sides: &Sides, n: usize) -> Vec<Person> {
        stored(sides, n).await;
        sides.collection.find(doc! {}).await.expect("find").try_collect().await.expect("load")
    }
    async fn orm(_: &Sides, (mut session, tracked): Self::OrmState, _: usize) {
        super::bump_and_commit(&mut session, &tracked, |p: &mut Person| &mut p.score).await;
    }
    async fn raw(sides: &Sides, plain: Vec<Person>, _: usize) {
        for chunk in plain.chunks(UPDATES_PER_COMMAND) {
            let updates: Vec<Document> = chunk
                .iter()
                .map(|person| doc! { "q": { "_id": person.id }, "u": { "$set": { "score": person.score + 1.0 } } })
                .collect();
            let command = doc! { "update": &sides.namespace.coll, "updates": updates, "ordered": true };
            sides.client.database(&sides.namespace.db).run_command(command).await.expect("update");
        }
    }
}

/// Time and peak memory of one run.
struct Run {
    wall: Duration,
    /// The client process's CPU time.
    cpu: Duration,
    /// The most bytes allocated at once during the run, beyond what was allocated before it.
    peak: isize,
}

async fn run_once<F: std::future::Future<Output = ()>>(work: F) -> Run {
    let base = start_peak();
    let sample = timed(work).await;
    Run { wall: sample.wall, cpu: sample.cpu, peak: super::peak_bytes() - base }
}

struct Row {
    size: usize,
    name: &'static str,
    orm: Vec<Run>,
    raw: Vec<Run>,
}

async fn measure<W: ScaledWorkload>(sides: &Sides, n: usize, runs: usize) -> Row {
    let (mut orm, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let state = W::prepare_orm(sides, n).await;
        orm.push(run_once(W::orm(sides, state, n)).await);
        let state = W::prepare_raw(sides, n).await;
        raw.push(run_once(W::raw(sides, state, n)).await);
    }
    eprintln!("measured: {} documents, {}", n, W::NAME);
    Row { size: n, name: W::NAME, orm, raw }
}

/// What the table shows of one row: per-document medians and peaks of each side.
struct Figures {
    orm_micros: f64,
    raw_micros: f64,
    orm_cpu: f64,
    raw_cpu: f64,
    /// Largest peak of the runs, in bytes: memory is about the worst case.
    orm_peak: f64,
    raw_peak: f64,
}

impl Figures {
    fn of(row: &Row) -> Figures {
        let micros = |durations: Vec<Duration>| median(durations).as_secs_f64() * 1e6 / row.size as f64;
        let per_doc = |runs: &[Run]| micros(runs.iter().map(|run| run.wall).collect());
        let cpu = |runs: &[Run]| micros(runs.iter().map(|run| run.cpu).collect());
        let peak = |runs: &[Run]| runs.iter().map(|run| run.peak).max().unwrap_or_default().max(0) as f64;
        Figures {
            orm_micros: per_doc(&row.orm),
            raw_micros: per_doc(&row.raw),
            orm_cpu: cpu(&row.orm),
            raw_cpu: cpu(&row.raw),
            orm_peak: peak(&row.orm),
            raw_peak: peak(&row.raw),
        }
    }

    fn ratio(&self) -> f64 {
        self.orm_micros / self.raw_micros.max(1e-9)
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "\n| documents | workload | mongotic µs/doc | driver µs/doc | ratio | client CPU µs/doc (mongotic / driver) | peak bytes/doc (mongotic / driver) | peak MB (mongotic / driver) |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let f = Figures::of(row);
        let docs = row.size as f64;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2}x | {:.2} / {:.2} | {:.0} / {:.0} | {:.1} / {:.1} |",
            thousands(row.size),
            row.name,
            f.orm_micros,
            f.raw_micros,
            f.ratio(),
            f.orm_cpu,
            f.raw_cpu,
            f.orm_peak / docs,
            f.raw_peak / docs,
            f.orm_peak / 1e6,
            f.raw_peak / 1e6,
        );
    }
}

/// The header of the CSV form of the table, which `scripts/plot-scaling.py` reads.
const CSV_HEADER: &str = "documents,workload,mongotic_us_per_doc,driver_us_per_doc,ratio,mongotic_cpu_us_per_doc,driver_cpu_us_per_doc,mongotic_peak_bytes_per_doc,driver_peak_bytes_per_doc,mongotic_peak_mb,driver_peak_mb";

/// The table as CSV (RFC 4180: a workload name with a comma is quoted), the same figures
/// rounded as the table rounds them.
fn csv(rows: &[Row]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for row in rows {
        let f = Figures::of(row);
        let docs = row.size as f64;
        let name = if row.name.contains([',', '"']) {
            format!("\"{}\"", row.name.replace('"', "\"\""))
        } else {
            row.name.to_owned()
        };
        out.push_str(&format!(
            "{},{},{:.2},{:.2},{:.2},{:.2},{:.2},{:.0},{:.0},{:.1},{:.1}\n",
            row.size,
            name,
            f.orm_micros,
            f.raw_micros,
            f.ratio(),
            f.orm_cpu,
            f.raw_cpu,
            f.orm_peak / docs,
            f.raw_peak / docs,
            f.orm_peak / 1e6,
            f.raw_peak / 1e6,
        ));
    }
    out
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The sizes to run, from `MONGOTIC_BENCH_SIZES` (comma-separated).
fn sizes() -> Vec<usize> {
    match std::env::var("MONGOTIC_BENCH_SIZES") {
        Ok(sizes) => sizes.split(',').filter_map(|size| size.trim().replace('_', "").parse().ok()).collect(),
        Err(_) => vec![1_000, 10_000, 100_000, 1_000_000],
    }
}

/// Runs per side at `size`: fewer for the large sizes, whose runs take seconds to a minute.
/// `MONGOTIC_BENCH_RUNS` sets all.
fn runs_for(size: usize) -> usize {
    if let Some(runs) = std::env::var("MONGOTIC_BENCH_RUNS").ok().and_then(|runs| runs.parse().ok()) {
        return runs;
    }
    match size {
        0..=10_000 => 7,
        10_001..=100_000 => 5,
        _ => 3,
    }
}

pub(super) fn run(runtime: &tokio::runtime::Runtime, only: &str) {
    let uri = mongotic_test_server::uri();
    let db = TestDb::new();
    runtime.block_on(async {
        let sides = sides(&uri, db.name(), None).await;
        println!("server: {uri}; time per document is the median run's, memory the largest peak");
        let wanted = |name: &str| name.contains(only);
        // Warm up every path once, small.
        measure::<Insert>(&sides, 1_000, 1).await;
        measure::<TrackedRead>(&sides, 1_000, 1).await;
        measure::<UntrackedStream>(&sides, 1_000, 1).await;
        measure::<DirtyFlush>(&sides, 1_000, 1).await;
        let before = live_bytes();
        let mut rows = Vec::new();
        for n in sizes() {
            let runs = runs_for(n);
            // Insert first: it leaves the `n` documents the others read.
            if wanted(Insert::NAME) {
                rows.push(measure::<Insert>(&sides, n, runs).await);
            }
            if wanted(TrackedRead::NAME) {
                rows.push(measure::<TrackedRead>(&sides, n, runs).await);
            }
            if wanted(UntrackedStream::NAME) {
                rows.push(measure::<UntrackedStream>(&sides, n, runs).await);
            }
            if wanted(DirtyFlush::NAME) {
                rows.push(measure::<DirtyFlush>(&sides, n, runs).await);
            }
        }
        // Nothing is kept between runs: what is still allocated here was allocated before.
        eprintln!("bytes still allocated after the runs, beyond those before: {}", live_bytes() - before);
        print_rows(&rows);
        // `MONGOTIC_BENCH_CSV=path`: the same rows, machine-readable, for the plot script.
        if let Some(path) = std::env::var_os("MONGOTIC_BENCH_CSV") {
            std::fs::write(&path, csv(&rows)).expect("write MONGOTIC_BENCH_CSV");
            eprintln!("wrote {}", std::path::Path::new(&path).display());
        }
    });
    drop(db);
}

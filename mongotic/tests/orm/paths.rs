//! Every path of the public API that sends a statement's command, as a table: the rules that
//! must hold on all of them (options, scopes) are tested by running each row.
//!
//! The table cannot fall behind the API silently: `the_table_lists_every_public_path` reads
//! the library's source and fails when a public `Session` method that does I/O, a terminal
//! method of a result, or a statement type that `execute` runs has no row here.

use mongotic::bson::{Document, doc};
use mongotic::options::Options;
use mongotic::prelude::*;
use mongotic::relation::{Ref, Reverse};

use crate::common::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "paths", collection = "authors")]
pub struct Author {
    #[serde(rename = "_id")]
    pub id: i64,
    pub name: String,
}

#[allow(non_upper_case_globals)]
impl Author {
    pub const books: Reverse<Book, Ref<Author>> = Book::author.reverse();
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "paths", collection = "books")]
#[mongotic(index(keys(pages = 1), name = "pages_1"))]
pub struct Book {
    #[serde(rename = "_id")]
    pub id: i64,
    pub title: String,
    pub pages: i32,
    pub author: Ref<Author>,
}

/// A path of the public API, named as the source names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// `session.scalars(select).all()`
    ScalarsAll,
    /// `session.scalars(select).first()`
    ScalarsFirst,
    /// `session.scalars(select).one()`
    ScalarsOne,
    /// `session.scalars(select).one_or_none()`
    ScalarsOneOrNone,
    /// `session.scalars(select).count()`
    ScalarsCount,
    /// `session.scalars(select).exists()`
    ScalarsExists,
    /// `session.scalars(select).stream()`
    ScalarsStream,
    /// `session.scalar(select)`
    Scalar,
    /// `session.execute(select).all()` and the other reads of an `Execution`
    ExecuteSelect,
    /// `session.execute(select).await?`, then the `SelectResult`'s `next`/`rows`/`stream`
    SelectResult,
    /// `session.execute(select.distinct(..))`
    Distinct,
    /// `session.execute(select.group_by(..).agg(..))`
    GroupBy,
    /// `session.execute(select.aggregate(..))`
    Totals,
    /// `session.execute(pipeline(..))`
    Pipeline,
    /// `session.get(id)`
    Get,
    /// `session.get_many(ids)`
    GetMany,
    /// `session.refresh(&entity)`
    Refresh,
    /// `select().load(Book::author)`: references, loaded by the select
    SelectLoad,
    /// `session.load(&authors, Author::books)`: the reverse side
    Load,
    /// `select().keyset().after(..)`
    Keyset,
    /// `session.execute(insert(..))`
    Insert,
    /// `session.execute(update(..))`
    Update,
    /// `session.execute(delete(..))`
    Delete,
    /// `session.execute(upsert(..))`
    Upsert,
    /// `session.flush()` / `commit()` of staged inserts, changes, deletes, a `merge` and an
    /// `upsert`
    Flush,
}

impl Path {
    pub const ALL: [Path; 25] = [
        Path::ScalarsAll,
        Path::ScalarsFirst,
        Path::ScalarsOne,
        Path::ScalarsOneOrNone,
        Path::ScalarsCount,
        Path::ScalarsExists,
        Path::ScalarsStream,
        Path::Scalar,
        Path::ExecuteSelect,
        Path::SelectResult,
        Path::Distinct,
        Path::GroupBy,
        Path::Totals,
        Path::Pipeline,
        Path::Get,
        Path::GetMany,
        Path::Refresh,
        Path::SelectLoad,
        Path::Load,
        Path::Keyset,
        Path::Insert,
        Path::Update,
        Path::Delete,
        Path::Upsert,
        Path::Flush,
    ];

    /// The names of the API this row stands for, as the library's source spells them (see
    /// `the_table_lists_every_public_path`).
    fn names(self) -> &'static [&'static str] {
        match self {
            Path::ScalarsAll => &["ScalarResult::all"],
            Path::ScalarsFirst => &["ScalarResult::first"],
            Path::ScalarsOne => &["ScalarResult::one"],
            Path::ScalarsOneOrNone => &["ScalarResult::one_or_none"],
            Path::ScalarsCount => &["ScalarResult::count"],
            Path::ScalarsExists => &["ScalarResult::exists"],
            Path::ScalarsStream => &["ScalarResult::stream"],
            Path::Scalar => &["Session::scalar"],
            Path::ExecuteSelect => &["Execution::all", "Execution::first", "Execution::rows", "Execution::stream"],
            Path::SelectResult => &[
                "Executable for Select",
                "SelectResult::next",
                "SelectResult::first",
                "SelectResult::all",
                "SelectResult::stream",
                "SelectResult::rows",
                "SelectResult::next_row",
            ],
            Path::Distinct => &["Executable for Distinct"],
            Path::GroupBy => &["Executable for GroupBy"],
            Path::Totals => &["Executable for Totals"],
            Path::Pipeline => &["Executable for Pipeline"],
            Path::Get => &["Session::get"],
            Path::GetMany => &["Session::get_many"],
            Path::Refresh => &["Session::refresh"],
            Path::SelectLoad => &["Select::load"],
            Path::Load => &["Session::load"],
            Path::Keyset => &["Select::after"],
            Path::Insert => &["Executable for Insert"],
            Path::Update => &["Executable for Update"],
            Path::Delete => &["Executable for Delete"],
            Path::Upsert => &["Executable for Upsert"],
            Path::Flush => &["Session::flush", "Session::commit"],
        }
    }

    /// The commands the row sends that the rules apply to.
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Path::ScalarsCount => &["aggregate"], // the driver counts with an aggregation
            Path::Distinct => &["distinct"],
            Path::GroupBy | Path::Totals | Path::Pipeline => &["aggregate"],
            Path::Insert => &["insert"],
            Path::Update | Path::Upsert => &["update"],
            Path::Delete => &["delete"],
            Path::Flush => &["insert", "update", "delete", "bulkWrite"],
            _ => &["find"],
        }
    }

    /// `true` for the rows that write.
    pub fn writes(self) -> bool {
        matches!(self, Path::Insert | Path::Update | Path::Delete | Path::Upsert | Path::Flush)
    }
}

/// Three authors and six books (book `i` by author `i % 3`, `i * 100` pages), stored with the
/// raw driver.
pub async fn seed(ctx: &AsyncCtx) {
    ctx.insert::<Author>((0..3).map(|i| doc! { "_id": i as i64, "name": format!("author {i}") }).collect()).await;
    ctx.insert::<Book>(
        (0..6)
            .map(|i| {
                doc! { "_id": i as i64, "title": format!("book {i}"), "pages": i * 100, "author": (i % 3) as i64 }
            })
            .collect(),
    )
    .await;
    create_indexes::<Book>(&ctx.engine).await.expect("indexes");
}

/// Runs the row `path` in `session` (on the data of [`seed`]), with `statement` as the
/// statement's own options where the statement takes them. Returns how many documents it
/// read or wrote, for the scope tests.
pub async fn run(path: Path, session: &mut Session, statement: &Options) -> mongotic::Result<usize> {
    let books = || select::<Book>().filter(Book::pages.gte(0)).with_options(statement.clone());
    let one = || select::<Book>().filter(Book::id.eq(1_i64)).with_options(statement.clone());
    Ok(match path {
        Path::ScalarsAll => session.scalars(books()).all().await?.len(),
        Path::ScalarsFirst => session.scalars(books()).first().await?.into_iter().count(),
        Path::ScalarsOne => {
            session.scalars(one()).one().await?;
            1
        }
        Path::ScalarsOneOrNone => session.scalars(one()).one_or_none().await?.into_iter().count(),
        Path::ScalarsCount => session.scalars(books()).count().await? as usize,
        Path::ScalarsExists => usize::from(session.scalars(books()).exists().await?),
        Path::ScalarsStream => {
            use futures::TryStreamExt;
            let found: Vec<Tracked<Book>> = session.scalars(books()).stream().try_collect().await?;
            found.len()
        }
        Path::Scalar => session.scalar(books().columns(Book::title)).await?.into_iter().count(),
        Path::ExecuteSelect => session.execute(books().columns((Book::title, Book::pages))).all().await?.len(),
        Path::SelectResult => session.execute(books().columns(Book::title)).await?.rows().await?.len(),
        Path::Distinct => session.execute(books().distinct(Book::pages)).await?.len(),
        Path::GroupBy => {
            let stmt = books().group_by(Book::author).agg(mongotic::aggregate::count());
            session.execute(stmt).await?.len()
        }
        Path::Totals => session.execute(books().aggregate(mongotic::aggregate::count())).await? as usize,
        Path::Pipeline => {
            let stmt = mongotic::aggregate::pipeline::<Book, Document>([doc! { "$match": {} }])
                .with_options(statement.clone());
            session.execute(stmt).await?.len()
        }
        Path::Get => session.get::<Book>(2_i64).await?.into_iter().count(),
        Path::GetMany => session.get_many::<Book>([1_i64, 2, 3]).await?.into_iter().flatten().count(),
        Path::Refresh => {
            let Some(book) = session.get::<Book>(4_i64).await? else { return Ok(0) };
            session.refresh(&book).await?;
            1
        }
        Path::SelectLoad => {
            let found = session.scalars(books().load(Book::author)).all().await?;
            found.iter().filter(|book| session.related(book, Book::author).is_ok()).count()
        }
        Path::Load => {
            let authors = session.scalars(select::<Author>()).all().await?;
            session.load(&authors, Author::books).await?;
            authors.iter().map(|author| session.related(author, Author::books).map_or(0, |books| books.len())).sum()
        }
        Path::Keyset => {
            let page = books().order_by(Book::pages).keyset().limit(2);
            let first = session.scalars(page.clone()).all().await?;
            let Some(last) = first.last() else { return Ok(0) };
            session.scalars(page.after(last)?).all().await?.len()
        }
        Path::Insert => {
            let stmt = insert::<Book>()
                .values(vec![Book { id: 100, title: "new".into(), pages: 1, author: Ref::new(0_i64) }])
                .with_options(statement.clone());
            session.execute(stmt).await?.rowcount as usize
        }
        Path::Update => {
            let stmt = update::<Book>().filter(Book::pages.gte(0)).inc(Book::pages, 1).with_options(statement.clone());
            session.execute(stmt).await?.matched as usize
        }
        Path::Delete => {
            let stmt = delete::<Book>().filter(Book::pages.gte(400)).with_options(statement.clone());
            session.execute(stmt).await?.rowcount as usize
        }
        Path::Upsert => {
            let stmt = upsert::<Book>()
                .on(Book::title)
                .values([
                    Book { id: 101, title: "book 3".into(), pages: 33, author: Ref::new(0_i64) },
                    Book { id: 102, title: "book 102".into(), pages: 2, author: Ref::new(0_i64) },
                ])
                .with_options(statement.clone());
            let done = session.execute(stmt).await?;
            (done.inserted + done.matched) as usize
        }
        Path::Flush => {
            let mut written = 0;
            for book in session.scalars(select::<Book>().filter(Book::pages.lt(200))).all().await? {
                book.write().pages += 1;
                written += 1;
            }
            if let Some(gone) = session.get::<Book>(5_i64).await? {
                session.delete(&gone)?;
                written += 1;
            }
            session.add(Book { id: 200, title: "added".into(), pages: 7, author: Ref::new(1_i64) });
            session.merge(Book { id: 3, title: "book 3".into(), pages: 303, author: Ref::new(0_i64) })?;
            session
                .upsert(Book::title, Book { id: 201, title: "book 2".into(), pages: 202, author: Ref::new(2_i64) })?;
            session.commit().await?;
            written + 3
        }
    })
}

/// `Type::method` names of the public API's paths, from the library's source: the public
/// `async fn`s of `Session`, `ScalarResult`, `SelectResult` and `Execution` and their `stream`
/// methods, `Select::load`/`after`, and every statement type with an `Executable` impl.
fn public_paths() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut found = Vec::new();
    let mut files = vec![std::path::PathBuf::from(root)];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("source dir").flatten() {
                files.push(entry.path());
            }
            continue;
        }
        if path.extension().and_then(|ext| ext.to_str()) != Some("rs") || path.starts_with(format!("{root}/blocking")) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source file");
        let mut owner: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if line.starts_with("impl") {
                owner = impl_owner(line);
                if let Some(statement) = executable_for(line) {
                    found.push(format!("Executable for {statement}"));
                }
            } else if line.starts_with('}') {
                owner = None;
            }
            let Some(owner) = &owner else { continue };
            let method = trimmed
                .strip_prefix("pub async fn ")
                .or_else(|| trimmed.strip_prefix("pub fn stream"))
                .map(|rest| if trimmed.starts_with("pub fn stream") { "stream".to_owned() } else { ident(rest) });
            let Some(method) = method else { continue };
            if ["Session", "ScalarResult", "SelectResult", "Execution"].contains(&owner.as_str()) {
                found.push(format!("{owner}::{method}"));
            }
        }
    }
    found.push("Select::load".into());
    found.push("Select::after".into());
    found.sort();
    found.dedup();
    found
}

fn ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The type an `impl` line is for: `impl<..> Name<..> {` or `impl Name {`.
fn impl_owner(line: &str) -> Option<String> {
    let rest = line.strip_prefix("impl")?;
    let rest = if rest.starts_with('<') { skip_generics(rest)? } else { rest };
    let rest = rest.trim_start();
    if rest.contains(" for ") {
        return None;
    }
    Some(ident(rest))
}

/// The statement of an `impl .. Executable<'s> for Name<..>` line.
fn executable_for(line: &str) -> Option<String> {
    let at = line.find("Executable<'s> for ")?;
    Some(ident(&line[at + "Executable<'s> for ".len()..]))
}

fn skip_generics(text: &str) -> Option<&str> {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => {
                depth -= 1;
                if depth == 0 {
                    return text.get(at + 1..);
                }
            }
            _ => {}
        }
    }
    None
}

/// Methods of the session and its results that send nothing a statement's rules govern:
/// transactions (they carry no statement), and the session's own bookkeeping.
const NOT_STATEMENTS: &[&str] =
    &["Session::begin", "Session::begin_with", "Session::transaction", "Session::preview_flush", "Session::execute"];

fn the_table_lists_every_public_path() -> TestResult {
    let listed: Vec<&str> = Path::ALL.iter().flat_map(|path| path.names().iter().copied()).collect();
    let missing: Vec<String> = public_paths()
        .into_iter()
        .filter(|name| !listed.contains(&name.as_str()) && !NOT_STATEMENTS.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "public paths without a row in tests/orm/paths.rs: {missing:?}");
    // And every row names something that exists.
    let public = public_paths();
    let stale: Vec<&&str> = listed.iter().filter(|name| !public.iter().any(|found| found == *name)).collect();
    assert!(stale.is_empty(), "rows naming nothing public: {stale:?}");
    Ok(())
}
test!(the_table_lists_every_public_path, needs = []);

//! Scopes: a soft-delete field and a tenant field hold on every path of the public API.
//!
//! `every_path_keeps_to_the_scope` runs each row of the path table (`paths.rs`, which a test
//! keeps in step with the library's public API) against two pairs of models, one with a
//! soft-delete field and one with a tenant field, over data where the documents outside the
//! scope (deleted ones, another tenant's) sit beside the ones inside with the same titles,
//! authors and page counts. Each row must see only documents inside the scope, see some
//! (so the check cannot pass by seeing nothing), and leave every document outside the scope
//! exactly as it was. The runner matches on every `Path` without a wildcard: a new row does
//! not compile until it runs here too.

use mongotic::bson::{DateTime, Document, doc};
use mongotic::prelude::*;
use mongotic::relation::{Ref, Reverse};

use crate::common::*;
use crate::paths::Path;

/// Ids from here on are outside the scope: deleted documents, or another tenant's.
const OUTSIDE: i64 = 500;

/// What a row saw: the ids of the documents it returned or wrote, or a count.
#[derive(Debug)]
pub enum Seen {
    Ids(Vec<i64>),
    Count(u64),
}

/// The read rows of the path table over the models named `Book` and `Author` where it is
/// used, as one `match` on every `Path` without a wildcard; the write rows run `writes` (a
/// variant's view has none: it is read-only).
macro_rules! read_rows {
    ($path:expr, $session:expr, writes => $writes:expr) => {{
        let books = || select::<Book>().filter(Book::pages.gte(0));
        let one = || select::<Book>().filter(Book::title.eq("book 1"));
        let ids = |found: Vec<Tracked<Book>>| Seen::Ids(found.iter().map(|book| book.read().id).collect());
        let session: &mut Session = $session;
        match $path {
            Path::ScalarsAll => ids(session.scalars(books()).all().await?),
            Path::ScalarsFirst => {
                ids(session.scalars(books().order_by(-Book::id)).first().await?.into_iter().collect())
            }
            Path::ScalarsOne => ids(vec![session.scalars(one()).one().await?]),
            Path::ScalarsOneOrNone => ids(session.scalars(one()).one_or_none().await?.into_iter().collect()),
            Path::ScalarsCount => Seen::Count(session.scalars(books()).count().await?),
            Path::ScalarsExists => {
                let outside = session.scalars(select::<Book>().filter(Book::id.gte(OUTSIDE))).exists().await?;
                Seen::Count(u64::from(!outside) * 7)
            }
            Path::ScalarsStream => {
                use futures::TryStreamExt;
                ids(session.scalars(books()).stream().try_collect().await?)
            }
            Path::Scalar => {
                Seen::Ids(session.scalar(books().order_by(-Book::id).columns(Book::id)).await?.into_iter().collect())
            }
            Path::ExecuteSelect => {
                let rows = session.execute(books().columns((Book::id, Book::pages))).all().await?;
                Seen::Ids(rows.into_iter().map(|(id, _)| id).collect())
            }
            Path::SelectResult => {
                let rows = session.execute(books().columns(Book::id)).await?.rows().await?;
                Seen::Ids(rows.iter().map(|row| row.get::<i64>(0)).collect::<Result<_, _>>()?)
            }
            Path::Distinct => Seen::Ids(session.execute(books().distinct(Book::id)).await?),
            Path::GroupBy => {
                let groups = session.execute(books().group_by(Book::title).agg(mongotic::aggregate::count())).await?;
                Seen::Count(groups.into_iter().map(|(_, count)| count).sum())
            }
            Path::Totals => Seen::Count(session.execute(books().aggregate(mongotic::aggregate::count())).await?),
            Path::Pipeline => {
                let stmt = mongotic::aggregate::pipeline::<Book, Document>([doc! { "$project": { "_id": 1 } }]);
                let docs = session.execute(stmt).await?;
                Seen::Ids(docs.iter().filter_map(|doc| doc.get_i64("_id").ok()).collect())
            }
            Path::Get => {
                let mut found = Vec::new();
                for id in [2, OUTSIDE + 2] {
                    found.extend(session.get::<Book>(id).await?);
                }
                ids(found)
            }
            Path::GetMany => {
                ids(session.get_many::<Book>([1, 2, OUTSIDE + 1, OUTSIDE + 2]).await?.into_iter().flatten().collect())
            }
            Path::Refresh => match session.get::<Book>(4_i64).await? {
                Some(book) => {
                    session.refresh(&book).await?;
                    ids(vec![book])
                }
                None => Seen::Ids(Vec::new()),
            },
            Path::SelectLoad => {
                let found = session.scalars(books().load(Book::author)).all().await?;
                let mut seen = Vec::new();
                for book in &found {
                    // A reference to an author outside the scope is not loaded.
                    if let Ok(author) = session.related(book, Book::author) {
                        seen.push(author.read().id);
                    }
                }
                Seen::Ids(seen)
            }
            Path::Load => {
                let authors = session.scalars(select::<Author>()).all().await?;
                session.load(&authors, Author::books).await?;
                let mut seen: Vec<i64> = authors.iter().map(|author| author.read().id).collect();
                for author in &authors {
                    seen.extend(session.related(author, Author::books)?.iter().map(|book| book.read().id));
                }
                Seen::Ids(seen)
            }
            Path::Keyset => {
                let page = books().order_by(Book::pages).keyset().limit(2);
                let first = session.scalars(page.clone()).all().await?;
                let mut found = first.clone();
                if let Some(last) = first.last() {
                    found.extend(session.scalars(page.after(last)?).all().await?);
                }
                ids(found)
            }
            Path::Insert | Path::Update | Path::Delete | Path::Upsert | Path::Flush => $writes,
        }
    }};
}

/// The models of one scope, their seed and a runner of every path over them.
macro_rules! scoped {
    ($module:ident, $db:literal, field: { $($field:tt)* }, init: { $($init:tt)* }, outside: $outside:expr) => {
        pub mod $module {
            use super::*;

            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
            #[mongotic(database = $db, collection = "authors")]
            pub struct Author {
                #[serde(rename = "_id")]
                pub id: i64,
                pub name: String,
                $($field)*
            }

            #[allow(non_upper_case_globals)]
            impl Author {
                pub const books: Reverse<Book, Ref<Author>> = Book::author.reverse();
            }

            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
            #[mongotic(database = $db, collection = "books")]
            pub struct Book {
                #[serde(rename = "_id")]
                pub id: i64,
                pub title: String,
                pub pages: i32,
                pub author: Ref<Author>,
                $($field)*
            }

            pub fn book(id: i64, title: &str, pages: i32, author: i64) -> Book {
                Book { id, title: title.into(), pages, author: Ref::new(author), $($init)* }
            }

            /// The extra fields of a document outside the scope (`outside`) or inside.
            fn marks(outside: bool) -> Document {
                let outside_marks: fn(bool) -> Document = $outside;
                outside_marks(outside)
            }

            /// Authors 0..3 and books 0..7 inside the scope (book `i` by author `i % 3`, `i * 100`
            /// pages; book 6 by author 500, which is outside); the same again outside the scope
            /// with ids from 500.
            pub async fn seed(ctx: &AsyncCtx) {
                for (offset, outside) in [(0, false), (OUTSIDE, true)] {
                    let authors = (0..3).map(|i| {
                        let mut author = doc! { "_id": offset + i, "name": format!("author {i}") };
                        author.extend(marks(outside));
                        author
                    });
                    ctx.insert::<Author>(authors.collect()).await;
                    let books = (0..7).map(|i| {
                        let author = if i == 6 { OUTSIDE } else { offset + i % 3 };
                        let mut book = doc! {
                            "_id": offset + i,
                            "title": format!("book {i}"),
                            "pages": (i * 100) as i32,
                            "author": author,
                        };
                        book.extend(marks(outside));
                        book
                    });
                    ctx.insert::<Book>(books.collect()).await;
                }
            }

            /// Runs the row `path` in `session`, which is in the scope.
            pub async fn run(path: Path, session: &mut Session) -> mongotic::Result<Seen> {
                Ok(read_rows!(path, session, writes => match path {
                    Path::Insert => {
                        session.execute(insert::<Book>().values([book(100, "new", 1, 0)])).await?;
                        Seen::Ids(vec![100])
                    }
                    Path::Update => {
                        let done = session.execute(update::<Book>().filter(Book::pages.gte(0)).inc(Book::pages, 1)).await?;
                        Seen::Count(done.matched)
                    }
                    Path::Delete => {
                        let done = session.execute(delete::<Book>().filter(Book::pages.gte(400))).await?;
                        Seen::Count(done.matched)
                    }
                    Path::Upsert => {
                        // "book 1" is a title inside and outside the scope: the upsert finds the
                        // one inside; "book 77" is new.
                        let stmt = upsert::<Book>().on(Book::title).values([book(101, "book 1", 11, 0), book(102, "book 77", 2, 0)]);
                        let done = session.execute(stmt).await?;
                        assert_eq!((done.inserted, done.matched), (1, 1), "{done:?}");
                        Seen::Ids(done.upserted_ids.into_iter().map(|(_, id)| id).collect())
                    }
                    Path::Flush => {
                        let mut seen = Vec::new();
                        for found in session.scalars(select::<Book>().filter(Book::pages.lt(200))).all().await? {
                            found.write().pages += 1;
                            seen.push(found.read().id);
                        }
                        if let Some(gone) = session.get::<Book>(5_i64).await? {
                            session.delete(&gone)?;
                            seen.push(5);
                        }
                        session.add(book(200, "added", 7, 1));
                        seen.push(200);
                        // A merge of another scope's id cannot take its document: it is refused
                        // as a duplicate, or writes a document of this scope.
                        session.merge(book(3, "book 3", 303, 0))?;
                        seen.push(3);
                        let upserted = session.upsert(Book::title, book(201, "book 2", 202, 2))?;
                        session.commit().await?;
                        seen.push(upserted.read().id);
                        Seen::Ids(seen)
                    }
                    _ => unreachable!("{path:?} is a read row"),
                }))
            }
        }
    };
}

scoped!(
    soft,
    "scopes_soft",
    field: {
        #[serde(default)]
        #[mongotic(soft_delete)]
        pub deleted_at: Option<DateTime>,
    },
    init: { deleted_at: None },
    outside: |outside| if outside { doc! { "deleted_at": DateTime::from_millis(1_000) } } else { doc! { "deleted_at": null } }
);

scoped!(
    tenant,
    "scopes_tenant",
    field: {
        #[mongotic(tenant)]
        pub tenant: String,
    },
    // A value naming another tenant: the session stamps its own.
    init: { tenant: "b".into() },
    outside: |outside| doc! { "tenant": if outside { "b" } else { "a" } }
);

/// A variant's view is a scope too: `select::<Book>()` of the enum `Item` reads the documents
/// tagged "book" only. Outside it: pamphlets, with the same ids from 500, titles and pages.
pub mod view {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
    #[mongotic(database = "scopes_view", collection = "authors")]
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
    #[serde(tag = "kind", rename_all = "lowercase")]
    #[mongotic(database = "scopes_view", collection = "items")]
    pub enum Item {
        Book(Book),
        Pamphlet(Pamphlet),
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
    #[mongotic(variant_of = Item)]
    pub struct Book {
        #[serde(rename = "_id")]
        pub id: i64,
        pub title: String,
        pub pages: i32,
        pub author: Ref<Author>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
    #[mongotic(variant_of = Item)]
    pub struct Pamphlet {
        #[serde(rename = "_id")]
        pub id: i64,
        pub title: String,
        pub pages: i32,
        pub author: Ref<Author>,
    }

    /// Authors 0..3; books 0..7 as in the other scopes (book 6 names a missing author 500),
    /// and pamphlets from 500 with the same titles, pages and authors.
    pub async fn seed(ctx: &AsyncCtx) {
        ctx.insert::<Author>((0..3).map(|i: i64| doc! { "_id": i, "name": format!("author {i}") }).collect()).await;
        for (offset, kind) in [(0, "book"), (OUTSIDE, "pamphlet")] {
            let items = (0..7).map(|i: i64| {
                doc! {
                    "_id": offset + i,
                    "kind": kind,
                    "title": format!("book {i}"),
                    "pages": (i * 100) as i32,
                    "author": if i == 6 { OUTSIDE } else { i % 3 },
                }
            });
            ctx.insert::<Item>(items.collect()).await;
        }
    }

    /// Runs the row `path` through the view; `None` for a write row: a view is read-only, and
    /// a write through it does not compile (`tests/ui/variant_view_is_read_only.rs`).
    pub async fn run(path: Path, session: &mut Session) -> mongotic::Result<Option<Seen>> {
        Ok(read_rows!(path, session, writes => return Ok(None)).into())
    }
}

/// The documents outside the scope, as stored.
async fn outside<M: Model>(ctx: &AsyncCtx) -> Vec<Document> {
    let mut docs: Vec<Document> =
        ctx.find_all::<M>().await.into_iter().filter(|doc| doc.get_i64("_id").is_ok_and(|id| id >= OUTSIDE)).collect();
    docs.sort_by_key(|doc| doc.get_i64("_id").unwrap_or_default());
    docs
}

/// Checks what the row `path` saw inside the scope.
fn check_seen(scope: &str, path: Path, seen: &Seen) {
    match seen {
        Seen::Ids(ids) => {
            assert!(!ids.is_empty(), "{scope}: {path:?} saw nothing, so it proves nothing");
            assert!(ids.iter().all(|id| *id < OUTSIDE), "{scope}: {path:?} saw documents outside the scope: {ids:?}");
        }
        // Seven books inside the scope have `pages >= 0` (and seven more outside).
        Seen::Count(count) => {
            let expected = match path {
                Path::Delete => 3, // pages 400, 500, 600
                _ => 7,
            };
            assert_eq!(*count, expected, "{scope}: {path:?} counted documents outside the scope");
        }
    }
}

/// Every row of the path table, under each scope: it sees only the documents inside, and
/// leaves those outside as they were.
async fn every_path_keeps_to_the_scope() -> TestResult {
    let mut checked = Vec::new();
    for path in Path::ALL {
        {
            let ctx = AsyncCtx::new().await;
            soft::seed(&ctx).await;
            let before = (outside::<soft::Book>(&ctx).await, outside::<soft::Author>(&ctx).await);
            let mut session = ctx.session();
            let seen = soft::run(path, &mut session).await.map_err(|err| format!("soft delete: {path:?}: {err}"))?;
            check_seen("soft delete", path, &seen);
            let after = (outside::<soft::Book>(&ctx).await, outside::<soft::Author>(&ctx).await);
            assert_eq!(before, after, "soft delete: {path:?} changed deleted documents");
            if path == Path::Delete {
                // A bulk delete of a soft-delete model marks the documents; it removes none.
                assert_eq!(ctx.count::<soft::Book>(doc! {}).await, 14, "soft delete: a bulk delete removed documents");
                assert_eq!(ctx.count::<soft::Book>(doc! { "deleted_at": null }).await, 4);
            }
            if path == Path::Flush {
                let five = ctx.find_one::<soft::Book>(doc! { "_id": 5_i64 }).await.ok_or("book 5 is gone")?;
                assert!(five.get_datetime("deleted_at").is_ok(), "session.delete marks the document: {five}");
            }
        }
        {
            let ctx = AsyncCtx::new().await;
            tenant::seed(&ctx).await;
            let before = (outside::<tenant::Book>(&ctx).await, outside::<tenant::Author>(&ctx).await);
            let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
            let seen = tenant::run(path, &mut session).await.map_err(|err| format!("tenant: {path:?}: {err}"))?;
            check_seen("tenant", path, &seen);
            let after = (outside::<tenant::Book>(&ctx).await, outside::<tenant::Author>(&ctx).await);
            assert_eq!(before, after, "tenant: {path:?} changed another tenant's documents");
            if path.writes() {
                let stray =
                    ctx.count::<tenant::Book>(doc! { "_id": { "$lt": OUTSIDE }, "tenant": { "$ne": "a" } }).await;
                assert_eq!(stray, 0, "tenant: {path:?} wrote a document of tenant a without its tenant");
            }
        }
        checked.push(path);
    }
    assert_eq!(checked.len(), Path::ALL.len());
    Ok(())
}
test!(async every_path_keeps_to_the_scope, needs = [ReplicaSet]);

/// Every read row of the path table through a variant's view: it sees only that variant's
/// documents (the tag filter is on every read path), and the other variant's stay as they were.
async fn every_read_path_of_a_variant_view_keeps_to_its_tag() -> TestResult {
    let mut read_rows = 0;
    for path in Path::ALL {
        let ctx = AsyncCtx::new().await;
        view::seed(&ctx).await;
        let before = outside::<view::Item>(&ctx).await;
        let mut session = ctx.session();
        let seen = view::run(path, &mut session).await.map_err(|err| format!("view: {path:?}: {err}"))?;
        match seen {
            Some(seen) => {
                check_seen("variant view", path, &seen);
                read_rows += 1;
            }
            None => assert!(path.writes(), "{path:?} is a read row and did not run"),
        }
        assert_eq!(before, outside::<view::Item>(&ctx).await, "view: {path:?} changed another variant's documents");
    }
    assert_eq!(read_rows, Path::ALL.iter().filter(|path| !path.writes()).count());
    Ok(())
}
test!(async every_read_path_of_a_variant_view_keeps_to_its_tag, needs = [ReplicaSet]);

/// The same rows on a standalone server, where flushes have no transaction.
async fn every_path_keeps_to_the_scope_without_transactions() -> TestResult {
    for path in Path::ALL {
        let ctx = AsyncCtx::on(mongotic_test_server::Topology::Standalone).await;
        tenant::seed(&ctx).await;
        let before = outside::<tenant::Book>(&ctx).await;
        let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
        let seen = tenant::run(path, &mut session).await.map_err(|err| format!("tenant: {path:?}: {err}"))?;
        check_seen("tenant", path, &seen);
        assert_eq!(before, outside::<tenant::Book>(&ctx).await, "tenant: {path:?} changed another tenant's documents");
    }
    Ok(())
}
test!(async every_path_keeps_to_the_scope_without_transactions, needs = [Standalone]);

/// A session with no tenant cannot read or write a tenant-scoped model, except through an
/// explicit `unscoped()`; nothing is sent when it is refused.
async fn a_tenant_scoped_model_needs_a_tenant_or_unscoped() -> TestResult {
    let ctx = AsyncCtx::new().await;
    tenant::seed(&ctx).await;
    let mut session = ctx.session();
    ctx.log().clear();
    let refused = session.scalars(select::<tenant::Book>()).all().await.expect_err("no tenant");
    assert!(matches!(refused, mongotic::Error::TenantRequired { model: "Book" }), "{refused:?}");
    let refused = session.get::<tenant::Book>(1_i64).await.expect_err("no tenant");
    assert!(matches!(refused, mongotic::Error::TenantRequired { .. }), "{refused:?}");
    let pending = session.add(tenant::book(300, "x", 1, 0));
    let refused = session.flush().await.expect_err("no tenant to stamp");
    assert!(matches!(refused, mongotic::Error::TenantRequired { .. }), "{refused:?}");
    session.expunge(&pending);
    let refused = session.execute(update::<tenant::Book>().set(tenant::Book::pages, 0)).await.expect_err("no tenant");
    assert!(matches!(refused, mongotic::Error::TenantRequired { .. }), "{refused:?}");
    assert!(ctx.log().names().is_empty(), "refused statements sent {:?}", ctx.log().names());
    // Across tenants, on purpose.
    let everyone = session.scalars(select::<tenant::Book>().unscoped()).count().await?;
    assert_eq!(everyone, 14);
    let updated = session.execute(update::<tenant::Book>().unscoped().set(tenant::Book::pages, 1)).await?;
    assert_eq!(updated.matched, 14);
    Ok(())
}
test!(async a_tenant_scoped_model_needs_a_tenant_or_unscoped, needs = [ReplicaSet]);

/// A document never moves between tenants: a change of the field, a write of another
/// tenant's entity, and a bulk update that sets the field are refused before anything is sent.
async fn a_tenant_is_never_changed() -> TestResult {
    let ctx = AsyncCtx::new().await;
    tenant::seed(&ctx).await;
    let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
    let book = session.get::<tenant::Book>(1_i64).await?.ok_or("book 1")?;
    book.write().tenant = "b".into();
    ctx.log().clear();
    let refused = session.flush().await.expect_err("a tenant change");
    assert!(matches!(&refused, mongotic::Error::TenantChanged { id: Some(_), .. }), "{refused:?}");
    assert!(ctx.log().names().iter().all(|name| name != "update"), "sent {:?}", ctx.log().names());
    session.rollback();

    // Another tenant's entity, read across tenants, cannot be written by tenant a.
    let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
    let theirs =
        session.scalars(select::<tenant::Book>().unscoped().filter(tenant::Book::id.eq(OUTSIDE))).one().await?;
    theirs.write().pages = -1;
    let refused = session.flush().await.expect_err("another tenant's document");
    assert!(matches!(refused, mongotic::Error::TenantChanged { .. }), "{refused:?}");
    session.rollback();

    let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
    let refused =
        session.execute(update::<tenant::Book>().set(tenant::Book::tenant, "b".to_owned())).await.expect_err("bulk");
    assert!(matches!(refused, mongotic::Error::TenantChanged { id: None, .. }), "{refused:?}");
    assert_eq!(ctx.count::<tenant::Book>(doc! { "tenant": "a" }).await, 7);
    assert_eq!(ctx.find_one::<tenant::Book>(doc! { "_id": OUTSIDE }).await.ok_or("theirs")?.get_i32("pages")?, 0);
    Ok(())
}
test!(async a_tenant_is_never_changed, needs = [ReplicaSet]);

/// `session.delete` marks a document; reads hide it, `with_deleted`/`only_deleted` show it,
/// `restore` brings it back, and a bulk delete with `permanently()` removes it.
async fn a_soft_delete_hides_and_restore_brings_back() -> TestResult {
    let ctx = AsyncCtx::new().await;
    soft::seed(&ctx).await;
    let mut session = ctx.session();
    let one = session.get::<soft::Book>(1_i64).await?.ok_or("book 1")?;
    session.delete(&one)?;
    session.commit().await?;
    let stored = ctx.find_one::<soft::Book>(doc! { "_id": 1_i64 }).await.ok_or("book 1 was removed")?;
    assert!(stored.get_datetime("deleted_at").is_ok(), "{stored}");
    assert!(!session.contains(&one), "a soft-deleted entity is let go");
    assert!(session.get::<soft::Book>(1_i64).await?.is_none());
    let live = session.scalars(select::<soft::Book>()).count().await?;
    let all = session.scalars(select::<soft::Book>().with_deleted()).count().await?;
    let binned = session.scalars(select::<soft::Book>().only_deleted()).all().await?;
    assert_eq!((live, all, binned.len()), (6, 14, 8));
    // An entity read with `with_deleted` is not what `get` answers from the identity map.
    assert!(session.get::<soft::Book>(OUTSIDE).await?.is_none());
    // Restored, it is live again.
    let again = binned.iter().find(|book| book.read().id == 1).ok_or("book 1 in the bin")?;
    session.restore(again)?;
    session.commit().await?;
    assert_eq!(ctx.count::<soft::Book>(doc! { "_id": 1_i64, "deleted_at": null }).await, 1);
    assert!(session.get::<soft::Book>(1_i64).await?.is_some());
    // Emptying the bin removes for good.
    let purged = session.execute(delete::<soft::Book>().only_deleted().permanently()).await?;
    assert_eq!(purged.rowcount, 7);
    assert_eq!(ctx.count::<soft::Book>(doc! {}).await, 7);
    Ok(())
}
test!(async a_soft_delete_hides_and_restore_brings_back, needs = [ReplicaSet]);

/// The scope is on every statement's span as a fact (`tenant`, `live`, `unscoped`), and the
/// tenant's value is on none.
async fn spans_show_the_scope_never_the_tenant() -> TestResult {
    let ctx = AsyncCtx::new().await;
    tenant::seed(&ctx).await;
    let capture = crate::telemetry::Capture::default();
    {
        let _guard = tracing::subscriber::set_default(capture.clone());
        let mut session = sessionmaker(&ctx.engine).for_tenant("tenant-secret-value").session();
        session.scalars(select::<tenant::Book>()).all().await?;
        session.add(tenant::book(301, "x", 1, 0));
        session.commit().await?;
        let mut unscoped = ctx.session();
        unscoped.scalars(select::<tenant::Book>().unscoped()).all().await?;
    }
    let spans = capture.spans();
    let scopes: Vec<&str> = spans.iter().filter_map(|span| span.get("mongotic.scope")).collect();
    assert!(scopes.contains(&"tenant"), "{scopes:?}");
    assert!(scopes.contains(&"unscoped"), "{scopes:?}");
    let leaked: Vec<_> =
        spans.iter().filter(|span| span.fields.values().any(|value| value.contains("tenant-secret-value"))).collect();
    assert!(leaked.is_empty(), "span attributes carry the tenant's value: {leaked:?}");
    Ok(())
}
test!(async spans_show_the_scope_never_the_tenant, needs = [ReplicaSet]);

/// The dry run of a flush shows the scope in the filters it would send.
async fn the_preview_shows_the_scope() -> TestResult {
    let ctx = AsyncCtx::new().await;
    tenant::seed(&ctx).await;
    let mut session = sessionmaker(&ctx.engine).for_tenant("a").session();
    let book = session.get::<tenant::Book>(2_i64).await?.ok_or("book 2")?;
    book.write().pages = 9;
    let preview = session.preview_flush().await?;
    let update = preview.commands().iter().find(|command| command.contains_key("update")).ok_or("an update")?;
    let filter = update.get_array("updates")?[0].as_document().ok_or("a statement")?.get_document("q")?;
    assert_eq!(filter.get_str("tenant"), Ok("a"), "{filter}");
    Ok(())
}
test!(async the_preview_shows_the_scope, needs = [ReplicaSet]);

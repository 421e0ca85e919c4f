//! Options per statement, per session and per factory: each reaches the command the server
//! receives on every path it applies to (read from command monitoring, the paths from the
//! table in `paths.rs`), and each has its effect where the test server has it.

use std::time::Duration;

use mongotic::bson::{Bson, Document, doc};
use mongotic::options::{
    Collation, CollationStrength, Hint, Options, ReadConcern, ReadPreference, TransactionOptions, WriteConcern,
};
use mongotic::prelude::*;

use mongotic_test_server::Topology;

use crate::common::*;
use crate::paths::{self, Author, Book, Path};

/// One option, set at the session level, and where it shows in a command.
struct Row {
    name: &'static str,
    options: fn() -> Options,
    /// The commands it applies to.
    commands: &'static [&'static str],
    /// The paths among them it does not apply to.
    except: &'static [Path],
    /// `true` when the command carries it as it should.
    carried: fn(&Document) -> bool,
}

/// `true` when every statement of a write command (`updates` or `deletes`) passes `check`,
/// and there is one.
fn each_statement(command: &Document, check: impl Fn(&Document) -> bool) -> bool {
    let statements = command.get_array("updates").or_else(|_| command.get_array("deletes"));
    statements.is_ok_and(|statements| {
        !statements.is_empty() && statements.iter().all(|statement| statement.as_document().is_some_and(&check))
    })
}

fn level(command: &Document, field: &str) -> Option<String> {
    command.get_document(field).ok()?.get_str("level").ok().map(str::to_owned)
}

const READS: &[&str] = &["find", "count", "distinct", "aggregate"];

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "max_time",
            options: || Options::new().max_time(Duration::from_millis(4_321)),
            commands: READS,
            except: &[],
            carried: |command| {
                command
                    .get("maxTimeMS")
                    .and_then(Bson::as_i64)
                    .or_else(|| command.get_i32("maxTimeMS").ok().map(i64::from))
                    == Some(4_321)
            },
        },
        Row {
            name: "comment",
            options: || Options::new().comment("from-the-session"),
            commands: &["find", "count", "distinct", "aggregate", "insert", "update", "delete", "bulkWrite"],
            except: &[],
            carried: |command| command.get_str("comment") == Ok("from-the-session"),
        },
        Row {
            name: "hint",
            options: || Options::new().hint(Hint::Name("_id_".into())),
            commands: &["find", "count", "aggregate", "update", "delete"],
            // The flush writes by `_id` (and an upsert by its key): the server picks the index.
            except: &[Path::Flush, Path::Upsert],
            carried: |command| {
                command.get_str("hint") == Ok("_id_")
                    || each_statement(command, |statement| statement.get_str("hint") == Ok("_id_"))
            },
        },
        Row {
            name: "collation",
            options: || Options::new().collation(Collation::builder().locale("fr").build()),
            commands: &["find", "count", "distinct", "aggregate", "update", "delete"],
            // The flush's and an upsert's filters compare ids and keys, not text.
            except: &[Path::Flush, Path::Upsert],
            carried: |command| {
                let french =
                    |doc: &Document| doc.get_document("collation").is_ok_and(|c| c.get_str("locale") == Ok("fr"));
                french(command) || each_statement(command, french)
            },
        },
        Row {
            name: "batch_size",
            options: || Options::new().batch_size(7_u32),
            commands: &["find", "aggregate"],
            // A count answers one document, a read by id asks for one, and a read of known ids
            // (`get_many`, the references a select loads) asks for them all in one batch.
            except: &[Path::ScalarsCount, Path::Get, Path::Refresh, Path::GetMany, Path::SelectLoad],
            carried: |command| {
                let seven = |doc: &Document| doc.get_i32("batchSize") == Ok(7) || doc.get_i64("batchSize") == Ok(7);
                seven(command) || command.get_document("cursor").is_ok_and(seven)
            },
        },
        Row {
            name: "read_preference with tags and a maximum staleness",
            options: || {
                let tagged = mongotic::options::ReadPreferenceOptions::builder()
                    .tag_sets(vec![[("dc".to_owned(), "east".to_owned())].into_iter().collect(), Default::default()])
                    .max_staleness(Duration::from_secs(120))
                    .build();
                Options::new().read_preference(ReadPreference::Nearest { options: Some(tagged) })
            },
            commands: READS,
            except: &[],
            carried: |command| {
                command.get_document("$readPreference").is_ok_and(|preference| {
                    preference.get_str("mode") == Ok("nearest")
                        && preference.get_array("tagSets").is_ok_and(|tags| tags.len() == 2)
                        && preference
                            .get("maxStalenessSeconds")
                            .and_then(Bson::as_i64)
                            .or_else(|| preference.get_i32("maxStalenessSeconds").ok().map(i64::from))
                            == Some(120)
                })
            },
        },
        Row {
            name: "read_concern",
            options: || Options::new().read_concern(ReadConcern::majority()),
            commands: READS,
            except: &[],
            carried: |command| level(command, "readConcern").as_deref() == Some("majority"),
        },
        Row {
            name: "read_preference",
            options: || Options::new().read_preference(ReadPreference::SecondaryPreferred { options: None }),
            commands: READS,
            except: &[],
            carried: |command| {
                command
                    .get_document("$readPreference")
                    .is_ok_and(|preference| preference.get_str("mode") == Ok("secondaryPreferred"))
            },
        },
        Row {
            name: "allow_disk_use",
            options: || Options::new().allow_disk_use(true),
            commands: &["find", "aggregate"],
            // A count is an aggregation the driver builds, and a read by id one document:
            // neither takes the option.
            except: &[Path::ScalarsCount, Path::Get, Path::Refresh],
            carried: |command| command.get_bool("allowDiskUse") == Ok(true),
        },
        Row {
            name: "write_concern",
            options: || Options::new().write_concern(WriteConcern::builder().w_timeout(Duration::from_secs(7)).build()),
            commands: &["insert", "update", "delete", "bulkWrite", "commitTransaction"],
            except: &[],
            carried: |command| {
                command.get_document("writeConcern").is_ok_and(|concern| concern.get("wtimeout").is_some())
            },
        },
    ]
}

/// For every option and every path it applies to, the command the server received carries it.
async fn every_option_reaches_every_path_it_applies_to() -> TestResult {
    let mut checked = 0;
    for row in rows() {
        for path in Path::ALL {
            let ctx = AsyncCtx::new().await;
            paths::seed(&ctx).await;
            let mut session = ctx.session();
            session.set_options((row.options)());
            ctx.log().clear();
            paths::run(path, &mut session, &Options::new()).await?;
            let mut sent: Vec<(String, Document)> = Vec::new();
            for name in path.commands().iter().chain(&["commitTransaction"]) {
                if !row.commands.contains(name) {
                    continue;
                }
                for command in ctx.log().commands(name) {
                    // In a transaction its commit carries the write concern, not its commands.
                    let in_transaction = command.get_bool("autocommit") == Ok(false) && *name != "commitTransaction";
                    if row.name == "write_concern" && in_transaction {
                        continue;
                    }
                    sent.push(((*name).to_owned(), command));
                }
            }
            // The row applies to one of the commands the path sends: one must be there.
            let applies = path.commands().iter().any(|name| row.commands.contains(name))
                || (row.name == "write_concern" && path.writes());
            if !applies || row.except.contains(&path) {
                continue;
            }
            assert!(
                !sent.is_empty(),
                "{} on {path:?}: none of {:?} was sent: {:?}",
                row.name,
                row.commands,
                ctx.log().names()
            );
            for (name, command) in &sent {
                assert!((row.carried)(command), "{} on {path:?}: the {name} lacks it: {command}", row.name);
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "{checked} commands checked");
    Ok(())
}
test!(async every_option_reaches_every_path_it_applies_to, needs = [ReplicaSet]);

/// The statement's own options win over the session's, which win over the factory's.
async fn a_statement_overrides_its_session_which_overrides_its_factory() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let factory =
        sessionmaker(&ctx.engine).with_options(Options::new().comment("factory").max_time(Duration::from_secs(9)));
    let mut session = factory.session();
    assert_eq!(session.options().get_comment(), Some(&Bson::from("factory")));
    ctx.log().clear();
    session.scalars(select::<Book>()).all().await?;
    session.set_options(Options::new().comment("session").over(factory.options()));
    session.scalars(select::<Book>()).all().await?;
    session.scalars(select::<Book>().comment("statement")).all().await?;
    let finds = ctx.log().commands("find");
    let comments: Vec<&str> = finds.iter().filter_map(|find| find.get_str("comment").ok()).collect();
    assert_eq!(comments, ["factory", "session", "statement"]);
    assert!(finds.iter().all(|find| find.get_i64("maxTimeMS").ok().or(find.get_i32("maxTimeMS").ok().map(i64::from)) == Some(9_000)));
    Ok(())
}
test!(async a_statement_overrides_its_session_which_overrides_its_factory, needs = [ReplicaSet]);

/// A collation that ignores case matches case-insensitively, in a select and a bulk update.
async fn a_collation_compares_case_insensitively() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let mut session = ctx.session();
    let ignore_case = || Collation::builder().locale("en").strength(CollationStrength::Secondary).build();
    let exact = session.scalars(select::<Book>().filter(Book::title.eq("BOOK 1"))).count().await?;
    let folded =
        session.scalars(select::<Book>().filter(Book::title.eq("BOOK 1")).collation(ignore_case())).count().await?;
    assert_eq!((exact, folded), (0, 1));
    let updated = session
        .execute(update::<Book>().filter(Book::title.eq("Book 2")).set(Book::pages, 7).collation(ignore_case()))
        .await?;
    assert_eq!(updated.matched, 1);
    Ok(())
}
test!(async a_collation_compares_case_insensitively, needs = [ReplicaSet]);

/// A hint naming an index that does not exist fails the statement; one that exists is used.
async fn a_hint_naming_a_missing_index_fails() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let mut session = ctx.session();
    let found = session.scalars(select::<Book>().hint(Hint::Name("pages_1".into()))).all().await?;
    assert_eq!(found.len(), 6);
    let err =
        session.scalars(select::<Book>().hint(Hint::Name("no_such_index".into()))).all().await.expect_err("refused");
    assert_eq!(err.server_code(), Some(2), "{err}");
    let err = session.execute(delete::<Book>().hint(Hint::Name("no_such_index".into()))).await.expect_err("refused");
    assert!(err.server_code().is_some(), "{err}");
    assert_eq!(ctx.count::<Book>(doc! {}).await, 6, "nothing deleted");
    Ok(())
}
test!(async a_hint_naming_a_missing_index_fails, needs = [ReplicaSet]);

/// The server's time limit: a command that runs out of `maxTimeMS` is an error for which
/// `is_timeout()` is true (the test server does not run out of time while a fail point holds
/// a command, so the fail point answers as a server whose limit passed does).
async fn a_command_past_its_max_time_is_a_timeout() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let mut session = ctx.session();
    ctx.fail_commands(&["find"], Some(50), 1).await;
    let err = session.scalars(select::<Book>().max_time(Duration::from_millis(50))).all().await.expect_err("expired");
    ctx.fail_off().await;
    assert!(err.is_timeout(), "{err}");
    Ok(())
}
test!(async a_command_past_its_max_time_is_a_timeout, needs = [ReplicaSet, FailPoints]);

/// The client's time limit: a read held up by the server gives up at the limit with
/// `Error::Timeout`, and the session works on afterwards.
async fn a_read_past_its_timeout_gives_up() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let mut session = ctx.session();
    ctx.fail_point(
        doc! { "times": 1 },
        doc! { "failCommands": ["find"], "blockConnection": true, "blockTimeMS": 1_500 },
    )
    .await;
    let err = session.scalars(select::<Book>().timeout(Duration::from_millis(200))).all().await.expect_err("too slow");
    assert!(matches!(err, mongotic::Error::Timeout { .. }) && err.is_timeout(), "{err}");
    ctx.fail_off().await;
    assert_eq!(session.scalars(select::<Book>()).count().await?, 6);
    Ok(())
}
test!(async a_read_past_its_timeout_gives_up, needs = [ReplicaSet, FailPoints]);

/// A flush cut short by its time limit is reconciled like any write whose outcome is unknown:
/// the next flush reads the server first, and every document is stored once.
async fn a_flush_past_its_timeout_is_reconciled() -> TestResult {
    for topology in [Topology::ReplicaSet, Topology::Standalone] {
        let ctx = AsyncCtx::on(topology).await;
        let factory = sessionmaker(&ctx.engine).with_options(Options::new().timeout(Duration::from_millis(300)));
        let mut session = factory.session();
        let written = session.add_all((0..5).map(|i| Author { id: 1_000 + i, name: format!("a{i}") }));
        ctx.fail_point(
            doc! { "times": 1 },
            doc! { "failCommands": ["insert", "bulkWrite"], "blockConnection": true, "blockTimeMS": 1_500 },
        )
        .await;
        let err = session.commit().await.expect_err("cut short");
        assert!(err.is_timeout(), "{topology:?}: {err}");
        assert_eq!(session.new().len(), 5, "{topology:?}: still staged");
        // Let the held insert land or not, then flush again.
        tokio::time::sleep(Duration::from_millis(1_600)).await;
        ctx.fail_off().await;
        session.commit().await?;
        assert!(session.new().is_empty());
        assert_eq!(ctx.count::<Author>(doc! { "_id": { "$gte": 1_000 } }).await, 5, "{topology:?}: once each");
        assert!(written.iter().all(Tracked::is_persistent));
    }
    Ok(())
}
test!(async a_flush_past_its_timeout_is_reconciled, needs = [ReplicaSet, Standalone, FailPoints]);

/// A commit whose server has gone away honours the time limit set once on the factory,
/// instead of the retry policy's two minutes.
async fn a_commit_honours_the_factory_time_limit() -> TestResult {
    let mut server = mongotic_test_server::DedicatedServer::start(Topology::ReplicaSet)?;
    let engine =
        create_engine(&format!("{}&serverSelectionTimeoutMS=60000", server.uri())).await?.with_database("limits");
    let factory = sessionmaker(&engine).with_options(Options::new().timeout(Duration::from_secs(2)));
    let mut session = factory.session();
    session.add(Author { id: 1, name: "one".into() });
    session.commit().await?;
    session.begin().await?;
    session.add(Author { id: 2, name: "two".into() });
    server.kill()?;
    let err = session.commit().await.expect_err("the server is gone");
    assert!(err.is_timeout(), "{err}");
    session.rollback();
    Ok(())
}
test!(async a_commit_honours_the_factory_time_limit, needs = [OwnServer]);

/// Options that cannot apply in a transaction are refused before anything is sent.
async fn options_a_transaction_cannot_take_are_refused_before_io() -> TestResult {
    let ctx = AsyncCtx::new().await;
    paths::seed(&ctx).await;
    let mut session = ctx.session();
    session.begin().await?;
    ctx.log().clear();
    let secondary = select::<Book>().read_preference(ReadPreference::Secondary { options: None });
    let err = session.scalars(secondary).all().await.expect_err("refused");
    assert!(matches!(err, mongotic::Error::InvalidOptions { .. }), "{err}");
    let err = session.execute(update::<Book>().set(Book::pages, 1).write_concern(WriteConcern::majority())).await;
    assert!(matches!(err, Err(mongotic::Error::InvalidOptions { .. })), "{err:?}");
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
    session.rollback();
    let mut options = TransactionOptions::default();
    options.selection_criteria = Some(ReadPreference::Nearest { options: None }.into());
    assert!(matches!(session.begin_with(options).await, Err(mongotic::Error::InvalidOptions { .. })));
    // The transaction's own concerns reach its commands.
    let mut options = TransactionOptions::default();
    options.read_concern = Some(ReadConcern::snapshot());
    options.write_concern = Some(WriteConcern::majority());
    session.begin_with(options).await?;
    session.scalars(select::<Book>()).all().await?;
    session.add(Author { id: 50, name: "fifty".into() });
    session.commit().await?;
    let first = ctx.log().commands("find").into_iter().last().ok_or("a find")?;
    assert_eq!(level(&first, "readConcern").as_deref(), Some("snapshot"));
    let commit = ctx.log().commands("commitTransaction").into_iter().last().ok_or("a commit")?;
    assert!(
        commit.get_document("writeConcern").is_ok_and(|concern| concern.get_str("w") == Ok("majority")),
        "{commit}"
    );
    Ok(())
}
test!(async options_a_transaction_cannot_take_are_refused_before_io, needs = [ReplicaSet]);

/// A session's reads are causally consistent: once it has written, its reads ask the server
/// for what is at least as new as its writes (`afterClusterTime`), so they see them from any
/// member of the replica set.
async fn reads_after_a_flush_see_it_from_any_member() -> TestResult {
    let ctx = AsyncCtx::new().await;
    let mut session = ctx.session();
    session.add(Author { id: 1, name: "one".into() });
    session.commit().await?;
    ctx.log().clear();
    let found = session
        .scalars(select::<Author>().read_preference(ReadPreference::SecondaryPreferred { options: None }))
        .all()
        .await?;
    assert_eq!(found.len(), 1);
    let find = ctx.log().commands("find").into_iter().next().ok_or("a find")?;
    let after =
        find.get_document("readConcern").ok().and_then(|concern| concern.get_timestamp("afterClusterTime").ok());
    assert!(after.is_some(), "{find}");
    Ok(())
}
test!(async reads_after_a_flush_see_it_from_any_member, needs = [ReplicaSet]);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "paths", collection = "versioned")]
pub struct Counter {
    #[serde(rename = "_id")]
    pub id: i64,
    pub value: i64,
    #[serde(default)]
    #[mongotic(version)]
    pub version: i64,
}

// A refresh that reads a document older than the version the session knows (as from a
// member that lags behind) leaves the entity as it is: reads never go back in time.
scenario!(a_refresh_never_goes_back_to_an_older_version, |ctx| {
    let mut session = ctx.session();
    let counter = session.add(Counter { id: 1, value: 0, version: 0 });
    aw!(session.commit())?;
    for _ in 0..3 {
        counter.write().value += 1;
        aw!(session.commit())?;
    }
    assert_eq!((counter.read().value, counter.read().version), (3, 3));
    // What a lagging member would answer: an older version of the document.
    aw!(ctx.update::<Counter>(doc! { "_id": 1_i64 }, doc! { "$set": { "value": 1, "version": 1 } }));
    aw!(session.refresh(&counter))?;
    assert_eq!((counter.read().value, counter.read().version), (3, 3), "not moved back");
    // A newer one is taken.
    aw!(ctx.update::<Counter>(doc! { "_id": 1_i64 }, doc! { "$set": { "value": 9, "version": 5 } }));
    aw!(session.refresh(&counter))?;
    assert_eq!((counter.read().value, counter.read().version), (9, 5));
});

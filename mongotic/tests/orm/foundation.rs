//! The session's foundations: errors that say what went wrong at once, inputs that cannot
//! crash a service, and relations that list each entity once.

use mongotic::bson::{Document, doc};
use mongotic::prelude::*;
use mongotic::relation::{Ref, Reverse};
use mongotic_test_server::{DedicatedServer, Topology};

use crate::common::*;

/// A server that requires authentication and knows no user refuses every credential: each
/// call says so at once with `Error::Auth` (never a connection error after the whole
/// server-selection timeout), and it is not worth retrying.
async fn refused_credentials_are_an_auth_error_every_time() -> TestResult {
    let server = DedicatedServer::start_with_args(Topology::ReplicaSet, &["--auth"])?;
    let uri = server.uri().replace("mongodb://", "mongodb://ann:wrong@");
    let engine = create_engine(&uri).await?.with_database("auth");
    for attempt in 0..3 {
        let mut session = sessionmaker(&engine).session();
        let err = session.scalars(select::<User>()).all().await.expect_err("refused");
        assert!(err.is_auth(), "attempt {attempt}: {err}");
        assert!(!err.is_connection() && !err.is_transient(), "attempt {attempt}: {err}");
        session.add(user("Ann", "ann@x.io", 30));
        let err = session.commit().await.expect_err("refused");
        assert!(err.is_auth(), "attempt {attempt}, flush: {err}");
        assert_eq!(session.new().len(), 1, "still staged");
    }
    Ok(())
}
test!(async refused_credentials_are_an_auth_error_every_time, needs = [OwnServer]);

/// A TLS file that cannot be read is a TLS configuration error, not an invalid connection
/// string.
async fn a_missing_tls_file_is_a_tls_error() -> TestResult {
    let uri = "mongodb://127.0.0.1:9/?tls=true&tlsCAFile=/nonexistent/ca.pem";
    match create_engine(uri).await {
        Err(err @ mongotic::Error::InvalidTls { .. }) => assert!(err.to_string().contains("TLS"), "{err}"),
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(engine) => {
            let err = sessionmaker(&engine).session().scalars(select::<User>()).all().await.expect_err("no TLS");
            assert!(matches!(err, mongotic::Error::InvalidTls { .. }), "{err:?}");
        }
    }
    Ok(())
}
test!(async a_missing_tls_file_is_a_tls_error, needs = []);

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[mongotic(database = "limits", collection = "notes")]
pub struct Note {
    #[serde(rename = "_id")]
    pub id: i64,
    pub body: Document,
}

/// `{a: {a: ... {}}}`, `levels` deep (dropping a deep `Document` recurses: kept in bounds).
fn nested(levels: usize) -> Document {
    let mut doc = Document::new();
    for _ in 1..levels {
        doc = doc! { "a": doc };
    }
    doc
}

// A value nested far deeper than MongoDB allows, added and flushed from a thread with the
// default 2 MB stack, is refused with a typed error before anything recurses over it: the
// process goes on, nothing is written and the entity stays staged.
scenario!(a_value_nested_too_deep_is_refused_before_anything_recurses, |ctx| {
    let note = Note { id: 1, body: nested(1_000) };
    let engine = ctx.async_engine();
    let outcome = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return Err("runtime".to_owned());
            };
            runtime.block_on(async move {
                let mut session = mongotic::Session::bind(&engine);
                let handle = session.add(note);
                let err = session.commit().await.map(|()| "written".to_owned()).map_err(|err| err.to_string());
                let staged = session.new().len();
                // Dropped here, in bounds: 1,000 levels of `Document` drop on 2 MB.
                drop(handle);
                Ok((err, staged))
            })
        })
        .map_err(|err| err.to_string())?
        .join();
    let Ok(Ok((result, staged))) = outcome else { panic!("the flush crashed its thread: {outcome:?}") };
    let message = result.expect_err("refused");
    assert!(message.contains("100 levels"), "{message}");
    assert_eq!(staged, 1);
    assert_eq!(aw!(ctx.count::<Note>(doc! {})), 0);
    // At the limit it is written.
    let mut session = ctx.session();
    session.add(Note { id: 2, body: nested(99) });
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Note>(doc! {})), 1);
});

// A stored document nested deeper than MongoDB allows (a server that is not MongoDB may keep
// one) is a typed error for that document, not a crash.
scenario!(a_stored_document_nested_too_deep_is_a_typed_error, |ctx| {
    // The test server stores it (MongoDB would refuse it).
    aw!(ctx.insert::<Note>(vec![doc! { "_id": 7_i64, "body": nested(150) }]));
    assert_eq!(aw!(ctx.count::<Note>(doc! {})), 1);
    let mut session = ctx.session();
    let err = aw!(session.scalars(select::<Note>()).all()).expect_err("too deep");
    assert!(matches!(err, mongotic::Error::Deserialize { .. }) && err.to_string().contains("100 levels"), "{err}");
    let err = aw!(session.get::<Note>(7_i64)).expect_err("too deep");
    assert!(matches!(err, mongotic::Error::Deserialize { .. }), "{err}");
});

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[mongotic(database = "limits", collection = "tags")]
pub struct Tag {
    #[serde(rename = "_id")]
    pub id: String,
}

#[allow(non_upper_case_globals)]
impl Tag {
    pub const posts: Reverse<Tagged, Vec<Ref<Tag>>> = Tagged::tags.reverse();
}

#[derive(Debug, Clone, Serialize, Deserialize, Model)]
#[mongotic(database = "limits", collection = "tagged")]
pub struct Tagged {
    #[serde(rename = "_id")]
    pub id: i64,
    pub tags: Vec<Ref<Tag>>,
}

// The reverse side of a many-to-many lists each referring entity once, even when it names
// the target more than once.
scenario!(a_referrer_naming_its_target_twice_is_listed_once, |ctx| {
    let mut session = ctx.session();
    let rust = session.add(Tag { id: "rust".into() });
    session.add(Tag { id: "db".into() });
    let tag = |id: &str| Ref::new(id.to_owned());
    session.add(Tagged { id: 1, tags: vec![tag("rust"), tag("db"), tag("rust")] });
    session.add(Tagged { id: 2, tags: vec![tag("rust")] });
    aw!(session.commit())?;
    aw!(session.load(std::slice::from_ref(&rust), Tag::posts))?;
    let posts: Vec<i64> = session.related(&rust, Tag::posts)?.iter().map(|post| post.read().id).collect();
    assert_eq!(posts, [1, 2]);
});

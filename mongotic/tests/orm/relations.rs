//! Relations: typed references loaded in batches through the identity map, and `get_many`.

use mongotic::Error;
use mongotic::bson::{Bson, doc};
use mongotic::prelude::*;
use mongotic::relation::{Ref, Reverse};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "writers")]
pub struct Writer {
    #[serde(rename = "_id")]
    pub id: Option<ObjectId>,
    pub name: String,
}

#[allow(non_upper_case_globals)] // relations are named like the fields they sit beside
impl Writer {
    /// The articles whose author is this writer (one-to-many).
    pub const articles: Reverse<Article, Ref<Writer>> = Article::author.reverse();
    /// The articles this writer reviewed (one-to-many through an optional reference).
    pub const reviews: Reverse<Article, Option<Ref<Writer>>> = Article::reviewer.reverse();
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "labels")]
pub struct Label {
    #[serde(rename = "_id")]
    pub id: String,
}

#[allow(non_upper_case_globals)]
impl Label {
    /// The articles carrying this label (the reverse of a many-to-many).
    pub const articles: Reverse<Article, Vec<Ref<Label>>> = Article::labels.reverse();
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "articles")]
pub struct Article {
    #[serde(rename = "_id")]
    pub id: i64,
    pub title: String,
    #[mongotic(index)]
    pub author: Ref<Writer>,
    #[serde(default)]
    pub reviewer: Option<Ref<Writer>>,
    #[serde(default)]
    pub labels: Vec<Ref<Label>>,
}

fn writer(name: &str) -> Writer {
    Writer { id: Some(ObjectId::new()), name: name.into() }
}

fn label(name: &str) -> Label {
    Label { id: name.into() }
}

/// Five writers, three labels, and 30 articles: article `i` is by writer `i % 5`, reviewed by
/// writer `(i + 1) % 5` when `i` is even, and labelled with the labels `i % 3` and `(i + 1) % 3`.
/// Writer 4 writes nothing (articles are by writers 0..=3 only, see `author_of`).
fn author_of(i: i64) -> usize {
    (i % 4) as usize
}

fn article(i: i64, writers: &[Writer], labels: &[Label]) -> Article {
    let id_of = |w: &Writer| Ref::new(w.id.expect("writers have ids"));
    Article {
        id: i,
        title: format!("article {i}"),
        author: id_of(&writers[author_of(i)]),
        reviewer: (i % 2 == 0).then(|| id_of(&writers[(i as usize + 1) % 5])),
        labels: vec![
            Ref::new(labels[(i % 3) as usize].id.clone()),
            Ref::new(labels[((i + 1) % 3) as usize].id.clone()),
        ],
    }
}

/// The writers, labels and the 30 articles of [`article`].
fn blog() -> (Vec<Writer>, Vec<Label>, Vec<Article>) {
    let writers: Vec<Writer> = ["Ann", "Bob", "Cid", "Dee", "Eve"].map(writer).into();
    let labels: Vec<Label> = ["rust", "db", "web"].map(label).into();
    let articles = (0..30).map(|i| article(i, &writers, &labels)).collect();
    (writers, labels, articles)
}

fn find_filters(ctx_log: &mongotic_test_server::CommandLog, collection: &str) -> Vec<mongotic::bson::Document> {
    ctx_log
        .commands("find")
        .into_iter()
        .filter(|find| find.get_str("find").ok() == Some(collection))
        .map(|find| find.get_document("filter").cloned().unwrap_or_default())
        .collect()
}

// Many-to-one and many-to-many, loaded with the select: one extra `find` per relation for the
// whole result, and one handle per document.
scenario!(a_select_loads_each_relation_with_one_query, |ctx| {
    let (writers, labels, articles) = blog();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    session.add_all(labels.clone());
    session.add_all(articles);
    aw!(session.commit())?;

    let mut session = ctx.session();
    ctx.log().clear();
    let stmt = select::<Article>().order_by(Article::id).load(Article::author).load(Article::labels);
    let articles = aw!(session.scalars(stmt).all())?;
    assert_eq!(articles.len(), 30);
    assert_eq!(ctx.log().names(), ["find", "find", "find"], "articles, their authors, their labels");
    let author_filter = &find_filters(ctx.log(), "writers")[0];
    assert_eq!(author_filter.get_document("_id")?.get_array("$in")?.len(), 4, "each author asked for once");

    for article in &articles {
        let i = article.read().id;
        let author = session.related(article, Article::author)?;
        assert_eq!(author.read().name, writers[author_of(i)].name);
        let labels_of: Vec<String> =
            session.related(article, Article::labels)?.iter().map(|l| l.read().id.clone()).collect();
        assert_eq!(labels_of, [labels[(i % 3) as usize].id.clone(), labels[((i + 1) % 3) as usize].id.clone()]);
    }
    // One document, one handle: every article by Ann has the same author handle.
    let ann = session.related(&articles[0], Article::author)?;
    assert!(session.related(&articles[4], Article::author)?.ptr_eq(&ann));
    // Reading sent nothing.
    assert_eq!(ctx.log().len(), 3);
});

// The reverse side, for entities in hand: one query for all of them; a writer with no
// articles has an empty list, which is loaded, not "not loaded".
scenario!(the_reverse_side_loads_with_one_query_for_all_entities, |ctx| {
    let (writers, labels, articles) = blog();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    session.add_all(labels.clone());
    session.add_all(articles);
    aw!(session.commit())?;

    let mut session = ctx.session();
    let loaded = aw!(session.scalars(select::<Writer>().order_by(Writer::name)).all())?;
    assert!(matches!(session.related(&loaded[0], Writer::articles), Err(Error::NotLoaded { .. })));
    ctx.log().clear();
    aw!(session.load(&loaded, Writer::articles))?;
    assert_eq!(ctx.log().names(), ["find"]);
    assert_eq!(find_filters(ctx.log(), "articles")[0].get_document("author")?.get_array("$in")?.len(), 5);
    for (w, entity) in loaded.iter().enumerate() {
        let ids: Vec<i64> = session.related(entity, Writer::articles)?.iter().map(|a| a.read().id).collect();
        let expected: Vec<i64> = (0..30).filter(|i| author_of(*i) == w).collect();
        assert_eq!(ids, expected, "articles of {}", entity.read().name);
    }
    assert!(session.related(&loaded[4], Writer::articles)?.is_empty(), "Eve wrote nothing");

    // Through an optional reference, and through an array (many-to-many).
    aw!(session.load(&loaded, Writer::reviews))?;
    let reviewed: Vec<i64> = session.related(&loaded[1], Writer::reviews)?.iter().map(|a| a.read().id).collect();
    assert_eq!(reviewed, (0..30).filter(|i| i % 2 == 0 && (*i as usize + 1) % 5 == 1).collect::<Vec<_>>());
    let tags = aw!(session.scalars(select::<Label>().order_by(Label::id)).all())?;
    ctx.log().clear();
    aw!(session.load(&tags, Label::articles))?;
    assert_eq!(ctx.log().names(), ["find"]);
    let rust = tags.iter().find(|t| t.read().id == "rust").expect("rust label");
    let tagged: Vec<i64> = session.related(rust, Label::articles)?.iter().map(|a| a.read().id).collect();
    assert_eq!(tagged, (0..30).filter(|i| i % 3 == 0 || (i + 1) % 3 == 0).collect::<Vec<_>>());
    // The articles came through the identity map: the same handles as the writers' lists.
    let by_ann = session.related(&loaded[0], Writer::articles)?;
    let first_tagged = session.related(rust, Label::articles)?;
    assert!(first_tagged[0].ptr_eq(&by_ann[0]), "article 0 is one handle");
});

// Loaded documents go through the identity map: an entity the session already tracks keeps
// its pending change and is not fetched again.
scenario!(a_relation_load_keeps_pending_changes_and_skips_tracked_documents, |ctx| {
    let writers: Vec<Writer> = ["Ann", "Bob"].map(writer).into();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    session.add_all((0..4).map(|i| Article {
        id: i,
        title: format!("a{i}"),
        author: Ref::new(writers[(i % 2) as usize].id.expect("id")),
        reviewer: None,
        labels: vec![],
    }));
    aw!(session.commit())?;

    let mut session = ctx.session();
    let ann = aw!(session.get::<Writer>(writers[0].id.expect("id")))?.expect("Ann");
    ann.write().name = "Ann (pending)".into();
    ctx.log().clear();
    let articles = aw!(session.scalars(select::<Article>().order_by(Article::id).load(Article::author)).all())?;
    let writer_filter = &find_filters(ctx.log(), "writers")[0];
    assert_eq!(writer_filter.get_document("_id")?.get_array("$in")?, &vec![Bson::ObjectId(writers[1].id.expect("id"))]);
    let author = session.related(&articles[0], Article::author)?;
    assert!(author.ptr_eq(&ann));
    assert_eq!(author.read().name, "Ann (pending)");
    assert_eq!(session.dirty(), [&ann]);

    // Everything tracked already: loading sends nothing.
    ctx.log().clear();
    aw!(session.load(&articles, Article::author))?;
    assert!(ctx.log().is_empty());

    // A reference is read as the entity holds it now.
    articles[0].write().author = Ref::to(&session.related(&articles[1], Article::author)?)?;
    assert_eq!(session.related(&articles[0], Article::author)?.read().name, "Bob");
});

// Nothing is loaded behind the user's back; a missing referenced document is reported.
scenario!(unloaded_and_dangling_references_are_errors_not_queries, |ctx| {
    let writers: Vec<Writer> = ["Ann", "Gone"].map(writer).into();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    let mk = |i: i64, by: &Writer, reviewer: Option<&Writer>| Article {
        id: i,
        title: format!("a{i}"),
        author: Ref::new(by.id.expect("id")),
        reviewer: reviewer.map(|w| Ref::new(w.id.expect("id"))),
        labels: vec![],
    };
    session.add(mk(1, &writers[0], None));
    session.add(mk(2, &writers[1], Some(&writers[0])));
    aw!(session.commit())?;
    aw!(ctx.delete::<Writer>(doc! { "name": "Gone" }));

    let mut session = ctx.session();
    let articles = aw!(session.scalars(select::<Article>().order_by(Article::id)).all())?;
    ctx.log().clear();
    let err = session.related(&articles[0], Article::author).expect_err("not loaded");
    assert!(matches!(&err, Error::NotLoaded { model: "Article", relation, .. } if relation == "author"), "{err}");
    assert!(ctx.log().is_empty(), "reading an unloaded relation sends nothing");

    aw!(session.load(&articles, Article::author))?;
    aw!(session.load(&articles, Article::reviewer))?;
    assert_eq!(session.related(&articles[0], Article::author)?.read().name, "Ann");
    assert!(session.related(&articles[0], Article::reviewer)?.is_none(), "no reviewer: None");
    assert_eq!(session.related(&articles[1], Article::reviewer)?.map(|w| w.read().name.clone()), Some("Ann".into()));
    let err = session.related(&articles[1], Article::author).expect_err("dangling");
    assert!(err.is_not_found(), "{err}");
    assert!(
        matches!(&err, Error::DanglingReference { id, .. } if **id == Bson::ObjectId(writers[1].id.expect("id"))),
        "{err}"
    );
});

// A select that streams or reads one row at a time loads per batch, not per row.
scenario!(a_streamed_select_loads_relations_per_batch, |ctx| {
    // Articles 0..10 by Ann, 10..20 by Bob, 20..30 by Cid: each batch of 10 has its author.
    let writers: Vec<Writer> = ["Ann", "Bob", "Cid"].map(writer).into();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    session.add_all((0..30).map(|i| Article {
        id: i,
        title: format!("a{i}"),
        author: Ref::new(writers[(i / 10) as usize].id.expect("id")),
        reviewer: None,
        labels: vec![],
    }));
    aw!(session.commit())?;

    let mut session = ctx.session();
    ctx.log().clear();
    let stmt = select::<Article>().order_by(Article::id).yield_per(10).load(Article::author);
    let mut result = aw!(session.execute(stmt))?;
    let mut seen = 0;
    while let Some(article) = aw!(result.next())? {
        seen += 1;
        let _ = article;
    }
    drop(result);
    assert_eq!(seen, 30);
    assert_eq!(find_filters(ctx.log(), "writers").len(), 3, "one author query per batch of 10");
    let first = aw!(session.scalars(select::<Article>().order_by(Article::id)).first())?.expect("first");
    assert_eq!(session.related(&first, Article::author)?.read().name, "Ann");
});

// get_many: tracked entities from the identity map, the rest with one query, in the order
// asked, None for ids without a document; malformed text fails before anything is sent.
scenario!(get_many_takes_tracked_entities_and_fetches_the_rest_at_once, |ctx| {
    let writers: Vec<Writer> = ["Ann", "Bob", "Cid"].map(writer).into();
    let mut session = ctx.session();
    session.add_all(writers.clone());
    aw!(session.commit())?;
    let ids: Vec<ObjectId> = writers.iter().map(|w| w.id.expect("id")).collect();

    let mut session = ctx.session();
    let bob = aw!(session.get::<Writer>(ids[1]))?.expect("Bob");
    bob.write().name = "Bob (pending)".into();
    ctx.log().clear();
    let absent = ObjectId::new();
    let found = aw!(session.get_many::<Writer>([ids[2], absent, ids[1], ids[0]]))?;
    assert_eq!(ctx.log().names(), ["find"]);
    assert_eq!(find_filters(ctx.log(), "writers")[0].get_document("_id")?.get_array("$in")?.len(), 3);
    let names: Vec<Option<String>> = found.iter().map(|w| w.as_ref().map(|w| w.read().name.clone())).collect();
    assert_eq!(names, [Some("Cid".into()), None, Some("Bob (pending)".into()), Some("Ann".into())]);
    assert!(found[2].as_ref().expect("Bob").ptr_eq(&bob));

    ctx.log().clear();
    let again = aw!(session.get_many::<Writer>(&ids))?;
    assert!(ctx.log().is_empty(), "all tracked: no query");
    assert!(again.iter().all(Option::is_some));
    let err = aw!(session.get_many::<Writer>(["507f1f77bcf86cd799439011", "nope"])).expect_err("malformed");
    assert!(matches!(err, Error::MalformedId { .. }), "{err}");
    assert!(ctx.log().is_empty());
});

// A filter on a reference takes a handle; the stored document holds the plain id.
scenario!(references_are_stored_as_plain_ids_and_filter_by_handle, |ctx| {
    let writers: Vec<Writer> = ["Ann", "Bob"].map(writer).into();
    let mut session = ctx.session();
    let handles = session.add_all(writers.clone());
    session.add_all((0..4).map(|i| Article {
        id: i,
        title: format!("a{i}"),
        author: Ref::new(writers[(i % 2) as usize].id.expect("id")),
        reviewer: None,
        labels: vec![],
    }));
    aw!(session.commit())?;
    let stored = aw!(ctx.find_one::<Article>(doc! { "_id": 1_i64 })).expect("stored");
    assert_eq!(stored.get("author"), Some(&Bson::ObjectId(writers[1].id.expect("id"))));
    let by_bob = aw!(session.scalars(select::<Article>().filter(Article::author.eq(&handles[1]))).count())?;
    assert_eq!(by_bob, 2);
    let unsaved = Tracked::new(Writer { id: None, name: "new".into() });
    let err = aw!(session.scalars(select::<Article>().filter(Article::author.eq(&unsaved))).all()).expect_err("no id");
    assert!(matches!(err, Error::InvalidValue { .. }), "{err}");
    assert!(matches!(Ref::to(&unsaved), Err(Error::NoId { .. })));
});

//! Polymorphic models: an enum of three variants in one collection, as a full citizen of the
//! session (identity map, diffs within a variant, one replacement on a change of variant,
//! versions, hooks and validation per variant), the variants' read-only views with the tag
//! filter added on every read path, unknown tags (a typed error, or a catch-all that writes the
//! document back untouched), indexes partial to a variant's tag, and references to an enum.

use mongotic::bson::{Bson, Document, doc};
use mongotic::model::UnknownVariant;
use mongotic::prelude::*;
use mongotic::relation::Ref;
use mongotic::validation::Violations;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[mongotic(collection = "events")]
pub enum Event {
    Click(Click),
    PageView(PageView),
    Purchase(Purchase),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
pub struct Click {
    #[serde(rename = "_id")]
    pub id: i64,
    pub user: String,
    pub url: String,
    #[serde(default)]
    #[mongotic(version)]
    pub rev: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event)]
pub struct PageView {
    #[serde(rename = "_id")]
    pub id: i64,
    pub user: String,
    pub path: String,
    pub millis: i64,
    #[serde(default)]
    #[mongotic(version)]
    pub rev: i64,
}

/// A purchase checks its total (a hook of this variant only) and its order number is unique
/// among purchases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Event, hooks)]
pub struct Purchase {
    #[serde(rename = "_id")]
    pub id: i64,
    pub user: String,
    #[mongotic(unique)]
    pub order: String,
    pub total: i64,
    #[serde(default)]
    #[mongotic(version)]
    pub rev: i64,
}

impl mongotic::Hooks for Purchase {
    fn validate(&self, report: &mut Violations) {
        if self.total < 0 {
            report.add("total", "a purchase total is never negative");
        }
    }
}

fn click(id: i64, user: &str, url: &str) -> Event {
    Click { id, user: user.into(), url: url.into(), rev: 0 }.into()
}

fn view(id: i64, user: &str, path: &str, millis: i64) -> Event {
    PageView { id, user: user.into(), path: path.into(), millis, rev: 0 }.into()
}

fn purchase(id: i64, user: &str, order: &str, total: i64) -> Event {
    Purchase { id, user: user.into(), order: order.into(), total, rev: 0 }.into()
}

/// Two of each variant: clicks 1-2, page views 3-4, purchases 5-6, stored by the raw driver.
fn seed_documents() -> Vec<Document> {
    vec![
        doc! { "_id": 1_i64, "kind": "click", "user": "ann", "url": "/a", "rev": 0_i64 },
        doc! { "_id": 2_i64, "kind": "click", "user": "bob", "url": "/b", "rev": 0_i64 },
        doc! { "_id": 3_i64, "kind": "page_view", "user": "ann", "path": "/a", "millis": 120_i64, "rev": 0_i64 },
        doc! { "_id": 4_i64, "kind": "page_view", "user": "bob", "path": "/b", "millis": 900_i64, "rev": 0_i64 },
        doc! { "_id": 5_i64, "kind": "purchase", "user": "ann", "order": "o-1", "total": 30_i64, "rev": 0_i64 },
        doc! { "_id": 6_i64, "kind": "purchase", "user": "bob", "order": "o-2", "total": 70_i64, "rev": 0_i64 },
    ]
}

fn event_ids(events: &[Tracked<Event>]) -> Vec<i64> {
    let mut ids: Vec<i64> = events.iter().filter_map(|event| event.read().id().copied()).collect();
    ids.sort();
    ids
}

/// The filter of every `find` and `aggregate` the log holds since it was cleared.
fn read_filters(log: &mongotic_test_server::CommandLog) -> Vec<Document> {
    let mut filters: Vec<Document> =
        log.commands("find").iter().filter_map(|command| command.get_document("filter").ok().cloned()).collect();
    for command in log.commands("aggregate") {
        let stages = command.get_array("pipeline").cloned().unwrap_or_default();
        if let Some(Bson::Document(first)) = stages.first()
            && let Ok(matched) = first.get_document("$match")
        {
            filters.push(matched.clone());
        }
    }
    filters
}

/// The statement of the `update` commands in the log that targets the document `id`.
fn update_statement_of(log: &mongotic_test_server::CommandLog, id: i64) -> Result<Document, String> {
    let updates: Vec<Document> = log
        .commands("update")
        .iter()
        .flat_map(|command| command.get_array("updates").cloned().unwrap_or_default())
        .filter_map(|update| update.as_document().cloned())
        .collect();
    updates
        .iter()
        .find(|update| update.get_document("q").is_ok_and(|q| q.get_i64("_id") == Ok(id)))
        .cloned()
        .ok_or(format!("no update of {id}: {updates:?}"))
}

/// `true` when `filter` requires `kind` to be `tag` (directly or inside an `$and`).
fn requires_tag(filter: &Document, tag: &str) -> bool {
    if filter.get_str("kind") == Ok(tag) {
        return true;
    }
    filter
        .get_array("$and")
        .is_ok_and(|parts| parts.iter().any(|part| matches!(part, Bson::Document(part) if requires_tag(part, tag))))
}

scenario!(an_enum_model_stores_each_variant_under_its_tag_and_reads_every_variant, |ctx| {
    let mut session = ctx.session();
    session.add(click(1, "ann", "/a"));
    session.add(view(2, "ann", "/a", 120));
    session.add(purchase(3, "ann", "o-1", 30));
    aw!(session.commit())?;

    let stored = aw!(ctx.find_all::<Event>());
    let tags: Vec<(i64, String)> = stored
        .iter()
        .map(|doc| (doc.get_i64("_id").unwrap_or(-1), doc.get_str("kind").unwrap_or("<none>").to_owned()))
        .collect();
    assert_eq!(tags, [(1, "click".into()), (2, "page_view".into()), (3, "purchase".into())]);
    assert_eq!(stored[1].get_i64("millis").ok(), Some(120));

    let mut fresh = ctx.session();
    let events = aw!(fresh.scalars(select::<Event>().order_by(Event::ID)).all())?;
    assert_eq!(events.len(), 3);
    assert!(matches!(&*events[0].read(), Event::Click(c) if c.url == "/a"));
    assert!(matches!(&*events[1].read(), Event::PageView(v) if v.millis == 120));
    assert!(matches!(&*events[2].read(), Event::Purchase(p) if p.order == "o-1"));
    // One document, one handle: `get` answers from the identity map with the same entity.
    let again = aw!(fresh.get::<Event>(2_i64))?.ok_or("event 2")?;
    assert!(again.ptr_eq(&events[1]));
});

scenario!(a_change_within_a_variant_is_a_set_and_a_change_of_variant_one_replacement, |ctx| {
    aw!(ctx.insert::<Event>(seed_documents()));
    let mut session = ctx.session();
    let clicked = aw!(session.get::<Event>(1_i64))?.ok_or("event 1")?;
    let viewed = aw!(session.get::<Event>(3_i64))?.ok_or("event 3")?;
    if let Event::Click(c) = &mut *clicked.write() {
        c.url = "/changed".into();
    }
    // Event 3 turns from a page view into a click.
    *viewed.write() = click(3, "ann", "/from-view");
    ctx.log().clear();
    aw!(session.commit())?;

    let of = |id: i64| update_statement_of(ctx.log(), id);
    let within = of(1)?;
    let set = within.get_document("u").and_then(|u| u.get_document("$set")).map_err(|_| format!("{within:?}"))?;
    assert_eq!(set.get_str("url").ok(), Some("/changed"), "{within:?}");
    assert!(!set.contains_key("kind") && !set.contains_key("user"), "only the changed field: {within:?}");
    let replaced = of(3)?;
    let body = replaced.get_document("u").map_err(|_| format!("{replaced:?}"))?;
    assert!(body.keys().all(|key| !key.starts_with('$')), "a change of variant is one replacement: {replaced:?}");
    assert_eq!(body.get_str("kind").ok(), Some("click"));

    let stored = aw!(ctx.find_one::<Event>(doc! { "_id": 3_i64 })).ok_or("event 3 stored")?;
    assert_eq!(stored.get_str("kind").ok(), Some("click"));
    assert_eq!(stored.get_str("url").ok(), Some("/from-view"));
    assert!(
        !stored.contains_key("millis") && !stored.contains_key("path"),
        "the old variant's fields are gone: {stored}"
    );
    // Versions are per document: both writes bumped theirs.
    assert_eq!(stored.get_i64("rev").ok(), Some(1));
    let one = aw!(ctx.find_one::<Event>(doc! { "_id": 1_i64 })).ok_or("event 1 stored")?;
    assert_eq!((one.get_str("url").ok(), one.get_i64("rev").ok()), (Some("/changed"), Some(1)));
});

scenario!(a_variant_view_reads_only_its_variant_on_every_read_path, |ctx| {
    aw!(ctx.insert::<Event>(seed_documents()));
    let mut session = ctx.session();
    ctx.log().clear();

    let all = aw!(session.scalars(select::<PageView>()).all())?;
    let mut ids: Vec<i64> = all.iter().map(|view| view.read().id).collect();
    ids.sort();
    assert_eq!(ids, [3, 4]);
    let slow = aw!(session.scalars(select::<PageView>().filter(PageView::millis.gt(500))).one())?;
    assert_eq!(slow.read().id, 4);
    assert_eq!(aw!(session.scalars(select::<Click>()).count())?, 2);
    assert!(aw!(session.scalars(select::<Purchase>().filter(Purchase::order.eq("o-2"))).exists())?);
    // `user` exists in every variant: the view still reads its own documents only.
    let anns = aw!(session.scalar(select::<Click>().filter(Click::user.eq("ann")).columns(Click::id)))?;
    assert_eq!(anns, Some(1));
    let users = aw!(session.execute(select::<Purchase>().distinct(Purchase::user)))?;
    assert_eq!(users.len(), 2);
    let totals =
        aw!(session
            .execute(select::<Purchase>().group_by(Purchase::user).agg(mongotic::aggregate::sum(Purchase::total))))?;
    assert_eq!(totals.iter().map(|(_, total)| *total).sum::<i64>(), 100);
    // A document of another variant is not found through a view, even by id.
    assert!(aw!(session.get::<Click>(3_i64))?.is_none());
    let many = aw!(session.get_many::<Click>([1_i64, 3, 5]))?;
    assert_eq!(many.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false]);
    let page = select::<PageView>().order_by(PageView::millis).keyset().limit(1);
    let first = aw!(session.scalars(page.clone()).all())?;
    let last = first.last().ok_or("a first page")?;
    let second = aw!(session.scalars(page.after(last)?).all())?;
    assert_eq!((first[0].read().id, second[0].read().id), (3, 4));

    let filters = read_filters(ctx.log());
    assert!(!filters.is_empty());
    for filter in &filters {
        assert!(
            ["click", "page_view", "purchase"].iter().any(|tag| requires_tag(filter, tag)),
            "a view's read without its tag: {filter}"
        );
    }
});

scenario!(a_document_of_an_unknown_tag_is_a_typed_error_that_names_it, |ctx| {
    aw!(ctx.insert::<Event>(vec![
        doc! { "_id": 1_i64, "kind": "click", "user": "ann", "url": "/a" },
        doc! { "_id": 9_i64, "kind": "refund", "user": "ann", "amount": 5 },
    ]));
    let mut session = ctx.session();
    let err = aw!(session.scalars(select::<Event>()).all()).expect_err("an unknown tag");
    match err.cause() {
        mongotic::Error::UnknownVariant { model, field, tag, namespace, id } => {
            assert_eq!((*model, *field, tag.as_deref()), ("Event", "kind", Some("refund")));
            assert!(namespace.ends_with(".events"), "{namespace}");
            assert_eq!(id.as_deref(), Some(&Bson::Int64(9)));
        }
        other => return Err(format!("not UnknownVariant: {other}").into()),
    }
    // The documents are untouched, and the known one still reads.
    assert_eq!(aw!(ctx.count::<Event>(doc! {})), 2);
    assert!(aw!(session.get::<Event>(1_i64))?.is_some());
});

/// Notices: one known variant and a catch-all that keeps whatever else is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[serde(tag = "type")]
#[mongotic(collection = "notices")]
pub enum Notice {
    Email(Email),
    #[serde(untagged)]
    Other(UnknownVariant<i64>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Notice)]
pub struct Email {
    #[serde(rename = "_id")]
    pub id: i64,
    pub to: String,
}

scenario!(a_catch_all_variant_keeps_an_unknown_document_and_writes_it_back_untouched, |ctx| {
    let unknown = doc! { "_id": 2_i64, "type": "sms", "to": "+100", "parts": [1, 2], "meta": { "a": 1.5 } };
    aw!(ctx.insert::<Notice>(vec![doc! { "_id": 1_i64, "type": "Email", "to": "a@b.c" }, unknown.clone()]));
    let mut session = ctx.session();
    let notices = aw!(session.scalars(select::<Notice>()).all())?;
    assert_eq!(notices.len(), 2);
    let other = notices.iter().find(|notice| matches!(&*notice.read(), Notice::Other(_))).ok_or("the catch-all")?;
    if let Notice::Other(kept) = &*other.read() {
        assert_eq!((*kept.id(), kept.tag("type")), (2, Some("sms")));
        assert_eq!(kept.document(), &unknown);
    }
    // A change to the known one is flushed; the unknown one is not written at all.
    if let Some(email) = notices.iter().find(|notice| matches!(&*notice.read(), Notice::Email(_)))
        && let Notice::Email(email) = &mut *email.write()
    {
        email.to = "x@y.z".into();
    }
    ctx.log().clear();
    aw!(session.commit())?;
    let written: Vec<String> = ctx
        .log()
        .commands("update")
        .iter()
        .flat_map(|command| command.get_array("updates").cloned().unwrap_or_default())
        .filter_map(|update| update.as_document().and_then(|u| u.get_document("q").ok()).map(|q| format!("{q}")))
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(aw!(ctx.find_one::<Notice>(doc! { "_id": 2_i64 })), Some(unknown.clone()));

    // Changed through its document, it is written back with every other field as it was.
    if let Notice::Other(kept) = &mut *other.write() {
        kept.document_mut().insert("sent", true);
    }
    aw!(session.commit())?;
    let mut expected = unknown;
    expected.insert("sent", true);
    assert_eq!(aw!(ctx.find_one::<Notice>(doc! { "_id": 2_i64 })), Some(expected));
});

scenario!(indexes_of_a_variant_are_partial_to_its_tag, |ctx| {
    let names = aw!(ctx.create_indexes::<Event>())?;
    assert_eq!(names, ["order_1"]);
    let mut session = ctx.session();
    session.add(purchase(1, "ann", "o-1", 10));
    aw!(session.commit())?;
    // Another variant may carry the same value: the index covers purchases only.
    aw!(ctx.insert::<Event>(vec![doc! { "_id": 2_i64, "kind": "click", "user": "ann", "url": "/", "order": "o-1" }]));
    let mut session = ctx.session();
    session.add(purchase(3, "bob", "o-1", 20));
    let err = aw!(session.commit()).expect_err("a second purchase of order o-1");
    assert!(matches!(err.cause(), mongotic::Error::DuplicateKey { .. }), "{err}");
    assert_eq!(aw!(ctx.count::<Event>(doc! {})), 2);
});

scenario!(hooks_and_validation_run_for_the_variant_held, |ctx| {
    let mut session = ctx.session();
    session.add(click(1, "ann", "/"));
    session.add(purchase(2, "ann", "o-1", -5));
    let err = aw!(session.commit()).expect_err("a negative total");
    assert!(matches!(err.cause(), mongotic::Error::Validation { .. }), "{err}");
    assert_eq!(aw!(ctx.count::<Event>(doc! {})), 0, "nothing written");
});

/// A visit refers to the event that started it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(collection = "visits")]
pub struct Visit {
    #[serde(rename = "_id")]
    pub id: i64,
    pub event: Ref<Event>,
}

scenario!(references_to_an_enum_model_load_in_one_batch, |ctx| {
    aw!(ctx.insert::<Event>(seed_documents()));
    aw!(ctx.insert::<Visit>(vec![
        doc! { "_id": 1_i64, "event": 1_i64 },
        doc! { "_id": 2_i64, "event": 4_i64 },
        doc! { "_id": 3_i64, "event": 6_i64 },
    ]));
    let mut session = ctx.session();
    let visits = aw!(session.scalars(select::<Visit>()).all())?;
    ctx.log().clear();
    aw!(session.load(&visits, Visit::event))?;
    assert_eq!(ctx.log().commands("find").len(), 1, "one batch for every referenced event");
    let mut loaded = Vec::new();
    for visit in &visits {
        loaded.push(session.related(visit, Visit::event)?);
    }
    assert_eq!(event_ids(&loaded), [1, 4, 6]);
    assert!(loaded.iter().any(|event| matches!(&*event.read(), Event::Purchase(p) if p.total == 70)));
});

scenario!(the_enum_validator_admits_every_variant_and_refuses_a_broken_one, |ctx| {
    use mongotic::schema::SyncOptions;
    let plan = aw!(ctx.sync_schema::<Event>(SyncOptions::new()))?;
    assert!(!plan.is_empty(), "the collection, its validator and the partial index");
    let mut session = ctx.session();
    session.add(click(1, "ann", "/a"));
    session.add(view(2, "ann", "/a", 10));
    session.add(purchase(3, "ann", "o-1", 10));
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Event>(doc! {})), 3);
    // A page view without its `millis` is not a page view: the server refuses it.
    let broken = ctx.command(doc! {
        "insert": "events",
        "documents": [{ "_id": 4_i64, "kind": "page_view", "user": "bob", "path": "/", "rev": 0_i64 }],
    });
    let reply = aw!(broken);
    let refused = match &reply {
        Err(_) => true,
        Ok(reply) => reply.get_array("writeErrors").is_ok_and(|errors| !errors.is_empty()),
    };
    assert!(refused, "{reply:?}");
    assert_eq!(aw!(ctx.count::<Event>(doc! {})), 3);
});

/// Tasks of two kinds, soft-deleted and scoped to a tenant: the enum has both scopes because
/// its variants do, so `with_deleted`, `restore` and `unscoped` exist on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[serde(tag = "kind")]
#[mongotic(collection = "tasks")]
pub enum Task {
    Chore(Chore),
    Errand(Errand),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Task)]
pub struct Chore {
    #[serde(rename = "_id")]
    pub id: i64,
    #[mongotic(tenant)]
    pub team: String,
    pub room: String,
    #[serde(default)]
    #[mongotic(soft_delete)]
    pub deleted_at: Option<mongotic::bson::DateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(variant_of = Task)]
pub struct Errand {
    #[serde(rename = "_id")]
    pub id: i64,
    #[mongotic(tenant)]
    pub team: String,
    pub place: String,
    #[serde(default)]
    #[mongotic(soft_delete)]
    pub deleted_at: Option<mongotic::bson::DateTime>,
}

fn task_ids(tasks: &[Tracked<Task>]) -> Vec<i64> {
    let mut ids: Vec<i64> = tasks.iter().filter_map(|task| task.read().id().copied()).collect();
    ids.sort();
    ids
}

scenario!(an_enum_keeps_the_soft_delete_and_tenant_scopes_of_its_variants, |ctx| {
    fn assert_scopes<M: mongotic::SoftDelete + mongotic::TenantScoped>() {}
    assert_scopes::<Task>();
    aw!(ctx.insert::<Task>(vec![
        doc! { "_id": 1_i64, "kind": "Chore", "team": "a", "room": "kitchen", "deleted_at": null },
        doc! { "_id": 2_i64, "kind": "Errand", "team": "a", "place": "bank", "deleted_at": null },
        doc! { "_id": 3_i64, "kind": "Chore", "team": "b", "room": "attic", "deleted_at": null },
        doc! { "_id": 4_i64, "kind": "Errand", "team": "b", "place": "shop", "deleted_at": null },
    ]));
    let mut session = ctx.tenant_session("a");
    let mine = aw!(session.scalars(select::<Task>()).all())?;
    assert_eq!(task_ids(&mine), [1, 2], "only tenant a's tasks");
    // An insert is stamped with the session's tenant, whatever the value says.
    session.add(Task::from(Chore { id: 5, team: "b".into(), room: "hall".into(), deleted_at: None }));
    // A delete marks the document; the enum delegates to the variant it holds.
    let errand = aw!(session.get::<Task>(2_i64))?.ok_or("task 2")?;
    session.delete(&errand)?;
    aw!(session.commit())?;
    let five = aw!(ctx.find_one::<Task>(doc! { "_id": 5_i64 })).ok_or("task 5")?;
    assert_eq!(five.get_str("team").ok(), Some("a"), "{five}");
    let two = aw!(ctx.find_one::<Task>(doc! { "_id": 2_i64 })).ok_or("task 2 was removed")?;
    assert!(two.get_datetime("deleted_at").is_ok(), "{two}");

    let mut session = ctx.tenant_session("a");
    assert_eq!(task_ids(&aw!(session.scalars(select::<Task>()).all())?), [1, 5]);
    assert_eq!(aw!(session.scalars(select::<Errand>()).count())?, 0, "a view hides deleted documents too");
    let binned = aw!(session.scalars(select::<Task>().only_deleted()).all())?;
    assert_eq!(task_ids(&binned), [2]);
    session.restore(&binned[0])?;
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Task>(doc! { "_id": 2_i64, "deleted_at": null })), 1);
    let everyone = aw!(session.scalars(select::<Task>().unscoped()).all())?;
    assert_eq!(task_ids(&everyone), [1, 2, 3, 4, 5]);
});

// ---- Embedded polymorphism: enum values inside a model's documents ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Card {
    pub last4: String,
    pub brand: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Transfer {
    pub iban: String,
}

/// How a checkout was paid: a card, a transfer, or cash (a unit variant, its tag alone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Payment {
    Card(Card),
    Transfer(Transfer),
    Cash,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Circle {
    pub radius: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
pub struct Rect {
    pub width: i64,
    pub height: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded)]
#[serde(tag = "shape")]
pub enum Figure {
    Circle(Circle),
    Rect(Rect),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(collection = "checkouts")]
pub struct Checkout {
    #[serde(rename = "_id")]
    pub id: i64,
    pub payment: Option<Payment>,
    pub figures: Vec<Figure>,
}

fn card(last4: &str) -> Option<Payment> {
    Some(Payment::Card(Card { last4: last4.into(), brand: "visa".into() }))
}

fn transfer(iban: &str) -> Option<Payment> {
    Some(Payment::Transfer(Transfer { iban: iban.into() }))
}

fn circle(radius: i64) -> Figure {
    Figure::Circle(Circle { radius })
}

fn rect(width: i64, height: i64) -> Figure {
    Figure::Rect(Rect { width, height })
}

fn checkouts() -> Vec<Checkout> {
    vec![
        Checkout { id: 1, payment: card("4242"), figures: vec![circle(1)] },
        Checkout { id: 2, payment: transfer("DE89"), figures: vec![rect(2, 3), circle(5)] },
        Checkout { id: 3, payment: Some(Payment::Cash), figures: vec![] },
        Checkout { id: 4, payment: None, figures: vec![rect(1, 1)] },
    ]
}

fn checkout_ids(found: &[Tracked<Checkout>]) -> Vec<i64> {
    let mut ids: Vec<i64> = found.iter().map(|checkout| checkout.read().id).collect();
    ids.sort();
    ids
}

/// The keys of a stored document, sorted: what a change left behind, whatever its order.
fn keys_of(doc: &Document) -> Vec<String> {
    let mut keys: Vec<String> = doc.keys().cloned().collect();
    keys.sort();
    keys
}

scenario!(embedded_enums_are_filtered_by_their_variant_and_by_variant_fields, |ctx| {
    let mut session = ctx.session();
    session.add_all(checkouts());
    aw!(session.commit())?;
    let one = aw!(ctx.find_one::<Checkout>(doc! { "_id": 1_i64 })).ok_or("checkout 1")?;
    assert_eq!(
        one.get_document("payment").ok(),
        Some(&doc! { "method": "card", "last4": "4242", "brand": "visa" }),
        "serde's internally tagged form: {one}"
    );

    let mut session = ctx.session();
    let cases: Vec<(&str, Filter<Checkout>, Vec<i64>)> = vec![
        ("is card", Checkout::payment.is::<Card>(), vec![1]),
        ("is transfer", Checkout::payment.is::<Transfer>(), vec![2]),
        ("a card field", Checkout::payment.dot(Card::last4).eq("4242"), vec![1]),
        ("a transfer field", Checkout::payment.dot(Transfer::iban).starts_with("DE"), vec![2]),
        ("the tag of a unit variant", Checkout::payment.dot(Payment::TAG).eq("cash"), vec![3]),
        ("no payment", Checkout::payment.is_null(), vec![4]),
        ("any element a circle", Checkout::figures.is::<Circle>(), vec![1, 2]),
        ("any element a rect", Checkout::figures.is::<Rect>(), vec![2, 4]),
        ("a field of an element's variant", Checkout::figures.dot(Circle::radius).gt(2), vec![2]),
        ("tags in a set", Checkout::figures.dot(Figure::TAG).in_(["Rect"]), vec![2, 4]),
    ];
    for (case, filter, expected) in cases {
        let found = aw!(session.scalars(select::<Checkout>().filter(filter)).all())?;
        assert_eq!(checkout_ids(&found), expected, "{case}");
    }
    // A sort by a variant's field: documents without it sort first, as MongoDB orders missing.
    let by_last4 = aw!(session
        .scalars(
            select::<Checkout>()
                .filter(Checkout::payment.is::<Card>())
                .order_by(Checkout::payment.dot(Card::last4).desc())
        )
        .all())?;
    assert_eq!(checkout_ids(&by_last4), [1]);
    // The values read back are the values written, variant for variant.
    let all = aw!(session.scalars(select::<Checkout>().order_by(Checkout::id)).all())?;
    let read: Vec<Checkout> = all.iter().map(|checkout| checkout.read().clone()).collect();
    assert_eq!(read, checkouts());
});

scenario!(a_change_inside_an_embedded_enum_is_a_nested_set_and_a_change_of_its_variant_leaves_nothing_stale, |ctx| {
    let mut session = ctx.session();
    session.add_all(checkouts());
    aw!(session.commit())?;

    let mut session = ctx.session();
    let first = aw!(session.get::<Checkout>(1_i64))?.ok_or("checkout 1")?;
    let second = aw!(session.get::<Checkout>(2_i64))?.ok_or("checkout 2")?;
    if let Some(Payment::Card(card)) = &mut first.write().payment {
        card.last4 = "1111".into();
    }
    {
        let mut second = second.write();
        // The transfer becomes a card, and the first figure turns from a rect into a circle.
        second.payment = card("9999");
        second.figures[0] = circle(7);
    }
    ctx.log().clear();
    aw!(session.commit())?;

    let of = |id: i64| {
        let statement = update_statement_of(ctx.log(), id)?;
        statement.get_document("u").cloned().map_err(|_| format!("{statement:?}"))
    };
    // Within one variant: the changed field alone, by its dotted path.
    assert_eq!(of(1)?, doc! { "$set": { "payment.last4": "1111" } });
    // The stored documents are what the values serialize to: no field of the old variants.
    let stored = aw!(ctx.find_one::<Checkout>(doc! { "_id": 2_i64 })).ok_or("checkout 2")?;
    let payment = stored.get_document("payment").map_err(|_| format!("{stored}"))?;
    assert_eq!(keys_of(payment), ["brand", "last4", "method"], "{stored}");
    assert_eq!((payment.get_str("method").ok(), payment.get_str("last4").ok()), (Some("card"), Some("9999")));
    let figures = stored.get_array("figures").map_err(|_| format!("{stored}"))?;
    assert_eq!(
        figures,
        &vec![
            Bson::from(doc! { "shape": "Circle", "radius": 7_i64 }),
            Bson::from(doc! { "shape": "Circle", "radius": 5_i64 })
        ]
    );

    let mut fresh = ctx.session();
    let second = aw!(fresh.get::<Checkout>(2_i64))?.ok_or("checkout 2")?;
    assert_eq!(*second.read(), Checkout { id: 2, payment: card("9999"), figures: vec![circle(7), circle(5)] });
    assert_eq!(aw!(fresh.scalars(select::<Checkout>().filter(Checkout::payment.is::<Transfer>())).count())?, 0);
});

scenario!(an_unknown_tag_inside_a_document_is_a_typed_error_naming_the_document, |ctx| {
    aw!(ctx.insert::<Checkout>(vec![
        doc! { "_id": 1_i64, "payment": { "method": "cash" }, "figures": [] },
        doc! { "_id": 2_i64, "payment": { "method": "crypto", "wallet": "0xab" }, "figures": [] },
    ]));
    let mut session = ctx.session();
    let err = aw!(session.scalars(select::<Checkout>()).all()).expect_err("an unknown tag");
    match err.cause() {
        mongotic::Error::Deserialize { namespace, id, source } => {
            assert!(namespace.ends_with(".checkouts"), "{namespace}");
            assert_eq!(id.as_deref(), Some(&Bson::Int64(2)));
            assert!(source.to_string().contains("crypto"), "{source}");
        }
        other => return Err(format!("not Deserialize: {other}").into()),
    }
    // Nothing was written; the known document still reads.
    assert_eq!(aw!(ctx.count::<Checkout>(doc! { "payment.wallet": "0xab" })), 1);
    assert!(aw!(session.get::<Checkout>(1_i64))?.is_some());
});

//! Lifecycle hooks, timestamps and validation: what they change is written by the same write
//! (no extra round trip), and what they refuse is not written at all.

use mongotic::bson::{DateTime, doc};
use mongotic::prelude::*;
use mongotic::validation::Violations;
use mongotic::{Changes, Error, HookContext, HookError, Hooks};

/// A model with hooks (normalising, auditing, refusing), timestamps and a hand-written check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "members", hooks)]
pub struct Member {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    pub email: String,
    #[serde(default)]
    pub edits: u32,
    #[serde(default)]
    #[mongotic(created_at)]
    pub created_at: Option<DateTime>,
    #[serde(default)]
    #[mongotic(updated_at)]
    pub updated_at: Option<DateTime>,
    /// Set by `after_load`; not stored.
    #[serde(skip)]
    pub loaded: bool,
}

/// The audit trail the member hooks write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "audit")]
pub struct AuditEntry {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    #[mongotic(id)]
    pub id: Option<ObjectId>,
    pub member: i64,
    pub what: String,
}

impl Hooks for Member {
    fn before_insert(&mut self, _ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        self.email = self.email.trim().to_lowercase();
        Ok(())
    }

    fn before_update(&mut self, changes: &Changes<Self>, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        self.edits += 1;
        if changes.contains(Member::email) {
            self.email = self.email.trim().to_lowercase();
            ctx.add(AuditEntry { id: None, member: self.id, what: format!("email is now {}", self.email) });
        }
        Ok(())
    }

    fn before_delete(&self, ctx: &mut HookContext<'_>) -> Result<(), HookError> {
        if self.email.ends_with("@keep.io") {
            return Err("members of keep.io are kept".into());
        }
        ctx.add(AuditEntry { id: None, member: self.id, what: "deleted".into() });
        Ok(())
    }

    fn after_load(&mut self) {
        self.loaded = true;
    }

    fn validate(&self, report: &mut Violations) {
        if !self.email.contains('@') {
            report.add("email", "is not an email address");
        }
    }
}

fn member(id: i64, email: &str) -> Member {
    Member { id, email: email.into(), edits: 0, created_at: None, updated_at: None, loaded: false }
}

scenario!(insert_hooks_and_timestamps_ride_in_the_insert, |ctx| {
    let mut session = ctx.session();
    let ann = session.add(member(1, "  Ann@Example.COM "));
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["insert"]), "no extra round trip");
    let stored = aw!(ctx.find_one::<Member>(doc! { "_id": 1 })).ok_or("member 1")?;
    assert_eq!(stored.get_str("email")?, "ann@example.com");
    let created = stored.get_datetime("created_at")?;
    assert_eq!(stored.get_datetime("updated_at")?, created);
    // Memory holds what was stored (millisecond timestamps), so nothing is dirty.
    assert_eq!(ann.read().created_at, Some(*created));
    assert_eq!(ann.read().email, "ann@example.com");
    assert!(session.dirty().is_empty());
    ctx.log().clear();
    aw!(session.commit())?;
    assert!(ctx.log().is_empty(), "hooks do not make a clean entity dirty");
});

scenario!(update_hooks_write_their_changes_and_audit_in_the_same_flush, |ctx| {
    let mut session = ctx.session();
    session.add(member(1, "ann@example.com"));
    aw!(session.commit())?;
    let created =
        aw!(ctx.find_one::<Member>(doc! { "_id": 1 })).ok_or("member 1")?.get_datetime("created_at")?.to_owned();

    let mut session = ctx.session();
    let ann = aw!(session.get::<Member>(1))?.ok_or("member 1")?;
    assert!(ann.read().loaded, "after_load ran");
    ann.write().email = " ANN@new.io".into();
    ctx.log().clear();
    aw!(session.commit())?;
    let names = ctx.log().names();
    let expected_bulk = ctx.flush_commands(&["bulkWrite"]);
    let expected_split = ctx.flush_commands(&["update", "insert"]);
    assert!(names == expected_bulk || names == expected_split, "one write per collection at most: {names:?}");

    let stored = aw!(ctx.find_one::<Member>(doc! { "_id": 1 })).ok_or("member 1")?;
    assert_eq!(stored.get_str("email")?, "ann@new.io");
    assert_eq!(stored.get_i64("edits").or_else(|_| stored.get_i32("edits").map(i64::from))?, 1);
    assert_eq!(stored.get_datetime("created_at")?, &created, "created_at is kept");
    assert!(stored.get_datetime("updated_at")? >= &created);
    assert_eq!(ann.read().updated_at, Some(*stored.get_datetime("updated_at")?));
    assert_eq!(aw!(ctx.count::<AuditEntry>(doc! { "member": 1, "what": "email is now ann@new.io" })), 1);
    assert!(session.dirty().is_empty() && session.new().is_empty());
});

scenario!(a_hook_runs_once_per_change_even_when_the_flush_is_retried, needs = [FailPoints], |ctx| {
    let mut session = ctx.session();
    let ann = session.add(member(1, "ann@example.com"));
    aw!(session.commit())?;
    ann.write().email = "ann@two.io".into();
    // The first attempt fails on a server error; the second sends the same change.
    aw!(ctx.fail_commands(&["update", "bulkWrite"], Some(2), 1));
    let failed = aw!(session.commit());
    aw!(ctx.fail_off());
    assert!(failed.is_err());
    aw!(session.commit())?;
    assert_eq!(ann.read().edits, 1);
    assert_eq!(aw!(ctx.count::<Member>(doc! { "_id": 1, "edits": 1 })), 1);
    assert_eq!(aw!(ctx.count::<AuditEntry>(doc! { "member": 1 })), 1, "one audit entry for one change");
});

scenario!(a_refusing_hook_stops_the_flush_before_anything_is_sent, |ctx| {
    let mut session = ctx.session();
    let kept = session.add(member(1, "bob@keep.io"));
    aw!(session.commit())?;
    session.delete(&kept)?;
    session.add(member(2, "carol@example.com"));
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("the hook refuses");
    assert!(matches!(&err, Error::Hook { model: "Member", hook: "before_delete", .. }), "{err}");
    assert!(ctx.log().is_empty(), "nothing was sent");
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 1);
    assert_eq!(session.deleted().len(), 1, "the delete stays staged");
});

scenario!(invalid_values_fail_the_flush_with_nothing_written, |ctx| {
    let mut session = ctx.session();
    session.add(member(1, "ann@example.com"));
    session.add(member(2, "not an address"));
    session.add(member(3, "nor this"));
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("two members are invalid");
    assert!(err.is_validation(), "{err}");
    let Error::Validation { invalid } = &err else { panic!("{err}") };
    let ids: Vec<_> = invalid.iter().map(|entry| entry.id.clone()).collect();
    assert_eq!(ids, [Some(2_i64.into()), Some(3_i64.into())]);
    assert!(invalid.iter().all(|entry| entry.violations.has("email")));
    assert!(ctx.log().is_empty());
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 0);
    assert_eq!(session.new().len(), 3, "everything stays staged");
});

scenario!(bulk_inserts_get_timestamps_and_checks_but_no_hooks, |ctx| {
    let mut session = ctx.session();
    let err = aw!(session.execute(insert::<Member>().values([member(1, "a@b.io"), member(2, "nope")])))
        .expect_err("member 2 is invalid");
    assert!(err.is_validation(), "{err}");
    assert_eq!(aw!(ctx.count::<Member>(doc! {})), 0);
    aw!(session.execute(insert::<Member>().values([member(1, " A@B.io")])))?;
    let stored = aw!(ctx.find_one::<Member>(doc! { "_id": 1 })).ok_or("member 1")?;
    assert_eq!(stored.get_str("email")?, " A@B.io", "bulk statements run no hooks");
    assert!(stored.get_datetime("created_at").is_ok() && stored.get_datetime("updated_at").is_ok());
});

/// A model with declared constraints (garde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model, garde::Validate)]
#[mongotic(database = "myapp", collection = "people")]
#[garde(allow_unvalidated)]
pub struct Person {
    #[serde(rename = "_id")]
    #[mongotic(id)]
    pub id: i64,
    #[garde(length(min = 1, max = 20))]
    pub name: String,
    #[garde(range(min = 0, max = 150))]
    pub age: i32,
    #[garde(pattern(r"^[a-z]+$"))]
    pub handle: String,
    #[garde(dive)]
    pub address: Option<Place>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Embedded, garde::Validate)]
pub struct Place {
    #[garde(length(min = 2))]
    pub city: String,
}

fn person(id: i64, name: &str, age: i32) -> Person {
    Person { id, name: name.into(), age, handle: "ann".into(), address: Some(Place { city: "Oslo".into() }) }
}

scenario!(declared_constraints_name_every_failing_field, |ctx| {
    let mut session = ctx.session();
    session.add(person(1, "Ann", 30));
    let bad = session.add(Person {
        id: 2,
        name: String::new(),
        age: 200,
        handle: "Not Lower".into(),
        address: Some(Place { city: "X".into() }),
    });
    ctx.log().clear();
    let err = aw!(session.commit()).expect_err("person 2 breaks four rules");
    let Error::Validation { invalid } = &err else { panic!("{err}") };
    assert_eq!(invalid.len(), 1, "{err}");
    assert_eq!(invalid[0].id, Some(2_i64.into()));
    let mut paths: Vec<&str> = invalid[0].violations.iter().map(|violation| violation.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["address.city", "age", "handle", "name"], "{err}");
    assert!(err.to_string().contains("age: greater than 150"), "{err}");
    assert!(ctx.log().is_empty());
    assert_eq!(aw!(ctx.count::<Person>(doc! {})), 0);

    // Fixed, the same flush goes through; a tracked change is checked too.
    {
        let mut value = bad.write();
        value.name = "Bo".into();
        value.age = 40;
        value.handle = "bo".into();
        value.address = None;
    }
    aw!(session.commit())?;
    assert_eq!(aw!(ctx.count::<Person>(doc! {})), 2);
    bad.write().age = -1;
    let err = aw!(session.commit()).expect_err("age -1");
    assert!(err.is_validation(), "{err}");
    assert_eq!(aw!(ctx.count::<Person>(doc! { "_id": 2, "age": 40 })), 1);
});

scenario!(bulk_statements_check_the_same_constraints, |ctx| {
    let mut session = ctx.session();
    let err = aw!(session.execute(insert::<Person>().values([person(1, "Ann", 30), person(2, "Bo", 151)])))
        .expect_err("person 2 is 151");
    assert!(err.is_validation(), "{err}");
    assert_eq!(aw!(ctx.count::<Person>(doc! {})), 0);
    aw!(session.execute(insert::<Person>().values([person(1, "Ann", 30)])))?;

    ctx.log().clear();
    let err = aw!(session.execute(update::<Person>().set(Person::age, 200).set(Person::name, "")))
        .expect_err("200 is out of range, the name too short");
    let Error::Validation { invalid } = &err else { panic!("{err}") };
    assert!(invalid[0].violations.has("age") && invalid[0].violations.has("name"), "{err}");
    assert!(ctx.log().is_empty());
    aw!(session.execute(update::<Person>().set(Person::age, 31)))?;
    assert_eq!(aw!(ctx.count::<Person>(doc! { "age": 31 })), 1);
});

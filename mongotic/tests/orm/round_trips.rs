//! Round trips, counted with the driver's command monitoring, so a regression fails CI.

use mongotic::bson::doc;
use mongotic::prelude::*;

use crate::common::*;

scenario!(add_all_thousand_then_commit_is_one_insert, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..1000).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["insert"]));
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 1000);
});

scenario!(thousand_dirty_entities_one_command, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..1000).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(session.commit())?;
    let users = aw!(session.scalars(select::<User>()).all())?;
    for user in &users {
        user.write().role = Some("member".into());
    }
    ctx.log().clear();
    aw!(session.commit())?;
    assert_eq!(ctx.log().names(), ctx.flush_commands(&["update"]));
    assert_eq!(aw!(ctx.count::<User>(doc! { "role": "member" })), 1000);
});

scenario!(queries_are_one_round_trip_each, |ctx| {
    let mut session = ctx.session();
    session.add_all((0..10).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
    aw!(session.commit())?;
    let mut session = ctx.session();
    ctx.log().clear();
    aw!(session.scalars(select::<User>()).all())?;
    aw!(session.scalars(select::<User>()).count())?;
    aw!(session.scalars(select::<User>()).exists())?;
    aw!(session.scalars(select::<User>()).first())?;
    assert_eq!(ctx.log().names(), ["find", "aggregate", "find", "find"]);
});

scenario!(bulk_statements_are_one_command_each, |ctx| {
    let mut session = ctx.session();
    ctx.log().clear();
    aw!(session.execute(insert::<User>().values((0..500).map(|i| user(&format!("u{i}"), &format!("u{i}@x.io"), i)))))?;
    aw!(session.execute(update::<User>().filter(User::age.lt(100)).set(User::role, "young")))?;
    aw!(session.execute(delete::<User>().filter(User::age.gte(400))))?;
    assert_eq!(ctx.log().names(), ["insert", "update", "delete"]);
    assert_eq!(aw!(ctx.count::<User>(doc! {})), 400);
});

/// Stores `n` users through a session of their own.
macro_rules! seed_users {
    ($ctx:ident, $n:expr) => {{
        let mut session = $ctx.session();
        session.add_all((0..$n).map(|i| user(&format!("u{i}"), &format!("u{i}@example.com"), i)));
        aw!(session.commit())?;
    }};
}

// The benchmark's reads of many documents: the server's first batch holds 101 documents and
// the next one the rest (up to 16 MiB), so reading 1,000 is a find and a getMore, whether as
// tracked entities, as untracked values, or as columns.
scenario!(reading_a_thousand_is_a_find_and_a_get_more, |ctx| {
    seed_users!(ctx, 1000);
    let mut session = ctx.session();
    ctx.log().clear();
    assert_eq!(aw!(session.scalars(select::<User>()).all())?.len(), 1000);
    assert_eq!(ctx.log().names(), ["find", "getMore"]);

    let mut session = ctx.session();
    ctx.log().clear();
    assert_eq!(aw!(session.scalars(select::<User>().untracked()).all())?.len(), 1000);
    assert_eq!(ctx.log().names(), ["find", "getMore"]);

    ctx.log().clear();
    let rows = aw!(aw!(session.execute(select::<User>().columns((User::name, User::age))))?.all())?;
    assert_eq!(rows.len(), 1000);
    assert_eq!(ctx.log().names(), ["find", "getMore"]);
});

// Streaming untracked values fetches batch by batch: one getMore per batch after the first.
scenario!(an_untracked_stream_is_a_find_and_a_get_more_per_batch, |ctx| {
    seed_users!(ctx, 250);
    let mut session = ctx.session();
    ctx.log().clear();
    let stmt = select::<User>().untracked().yield_per(100);
    assert_eq!(aw!(session.scalars(stmt).all())?.len(), 250);
    assert_eq!(ctx.log().names(), ["find", "getMore", "getMore"]);
});

// `get` reads a document the session does not have, once; the identity map answers after.
scenario!(get_by_id_is_one_find_then_none, |ctx| {
    seed_users!(ctx, 3);
    let mut session = ctx.session();
    let ids: Vec<ObjectId> = aw!(session.scalars(select::<User>()).all())?.iter().filter_map(|u| u.id()).collect();
    let mut session = ctx.session();
    ctx.log().clear();
    for id in &ids {
        aw!(session.get::<User>(*id))?.ok_or("found")?;
    }
    assert_eq!(ctx.log().names(), ["find", "find", "find"]);
    ctx.log().clear();
    for id in &ids {
        aw!(session.get::<User>(*id))?.ok_or("found")?;
    }
    assert!(ctx.log().is_empty(), "{:?}", ctx.log().names());
});

// The latency benchmark's request: the entities to change and to delete loaded in one select,
// then one flush for the changes, deletes and new entities: one bulkWrite where the server has
// it, otherwise a delete, an update and an insert command.
scenario!(a_request_is_one_select_and_one_flush, |ctx| {
    let base = ctx.engine.clone();
    for (bulk_write, writes) in [(true, vec!["bulkWrite"]), (false, vec!["delete", "update", "insert"])] {
        ctx.engine = base.with_client_bulk_write(bulk_write);
        aw!(ctx.delete::<User>(doc! {}));
        seed_users!(ctx, 40);
        let mut session = ctx.session();
        let stored: Vec<ObjectId> =
            aw!(session.scalars(select::<User>()).all())?.iter().filter_map(|u| u.id()).collect();
        let (change, remove) = stored.split_at(20);
        let (change, remove) = (&change[..10], &remove[..10]);

        let mut session = ctx.session();
        ctx.log().clear();
        let wanted = change.iter().chain(remove).copied();
        let loaded = aw!(session.scalars(select::<User>().filter(User::id.in_(wanted))).all())?;
        assert_eq!(loaded.len(), 20);
        for user in &loaded {
            if user.id().is_some_and(|id| remove.contains(&id)) {
                session.delete(user)?;
            } else {
                user.write().role = Some("changed".into());
            }
        }
        session.add_all((100..110).map(|i| user(&format!("n{i}"), &format!("n{i}@example.com"), i)));
        aw!(session.commit())?;
        let mut expected = vec!["find".to_owned()];
        expected.extend(ctx.flush_commands(&writes));
        assert_eq!(ctx.log().names(), expected, "bulkWrite {bulk_write}");
        assert_eq!(aw!(ctx.count::<User>(doc! {})), 40);
        assert_eq!(aw!(ctx.count::<User>(doc! { "role": "changed" })), 10);
    }
});

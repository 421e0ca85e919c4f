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

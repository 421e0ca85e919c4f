//! Keyset pages: every document exactly once, whatever the duplicates and nulls in the sort
//! keys, without `skip`.

use std::collections::HashSet;

use mongotic::bson::{Bson, doc};
use mongotic::prelude::*;
use mongotic::statement::Keyset;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Model)]
#[mongotic(database = "myapp", collection = "entries")]
pub struct Entry {
    #[serde(rename = "_id")]
    pub id: Option<ObjectId>,
    /// Seven values, and null for every eleventh entry.
    #[serde(default)]
    pub rank: Option<i32>,
    /// Thirteen values.
    pub group: String,
}

fn entries(n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| Entry { id: None, rank: (i % 11 != 0).then_some((i % 7) as i32), group: format!("g{:02}", i % 13) })
        .collect()
}

scenario!(keyset_pages_return_every_document_exactly_once, |ctx| {
    let mut session = ctx.session();
    session.add_all(entries(10_000));
    aw!(session.commit())?;
    // A few documents store no `rank` at all, which sorts with the nulls.
    aw!(ctx.update::<Entry>(doc! { "group": "g03", "rank": Bson::Null }, doc! { "$unset": { "rank": "" } }));

    // Ascending over all 10,000; descending (nulls last) over the 2,000 of groups g00 and g01.
    for (descending, size, expected_pages) in [(false, 10_000, 10), (true, 1_540, 11)] {
        let rank = if descending { Entry::rank.desc() } else { Entry::rank.asc() };
        let mut page = select::<Entry>().order_by((rank, Entry::group.desc())).keyset().limit(1_000);
        if descending {
            page = page.filter(Entry::group.in_(["g00", "g01"])).limit(150);
        }
        let mut reader = ctx.session();
        let mut seen = HashSet::new();
        let mut previous: Option<(Option<i32>, String)> = None;
        let mut rows = aw!(reader.scalars(page.clone()).all())?;
        let mut pages = 0;
        while let Some(last) = rows.last().cloned() {
            pages += 1;
            for row in &rows {
                let row = row.read();
                assert!(seen.insert(row.id.expect("stored")), "a document came twice");
                // The order holds across pages: null ranks first when ascending, last when not.
                let key = (row.rank, row.group.clone());
                if let Some(before) = &previous {
                    let rank_order = if descending { key.0.cmp(&before.0).reverse() } else { key.0.cmp(&before.0) };
                    assert!(rank_order.then(before.1.cmp(&key.1)).is_ge(), "{before:?} then {key:?}");
                }
                previous = Some(key);
            }
            reader = ctx.session(); // a session per page, as a web service would
            rows = aw!(reader.scalars(page.clone().after(&last)?).all())?;
        }
        assert_eq!(seen.len(), size, "every document once");
        assert_eq!(pages, expected_pages);
        let finds = ctx.log().commands("find");
        assert!(finds.iter().all(|find| !find.contains_key("skip")), "no skip");
        ctx.log().clear();
    }
});

// A page token survives serialization, and a row that cannot start a page is a typed error.
scenario!(a_keyset_travels_as_a_token, |ctx| {
    let mut session = ctx.session();
    session.add_all(entries(30));
    aw!(session.commit())?;
    let page = select::<Entry>().order_by(Entry::group).keyset().limit(10);
    let first = aw!(session.scalars(page.clone()).all())?;
    let token = page.keyset_of(first.last().expect("a full page"))?;
    let wire = mongotic::bson::to_document(&doc! { "token": mongotic::bson::to_bson(&token)? })?;
    let back: Keyset = mongotic::bson::from_bson(wire.get("token").cloned().expect("token"))?;
    assert_eq!(back, token);
    let by_token = aw!(session.scalars(page.clone().after(back)?).all())?;
    let by_row = aw!(session.scalars(page.clone().after(first.last().expect("row"))?).all())?;
    assert_eq!(by_token.len(), 10);
    assert!(by_token.iter().zip(&by_row).all(|(a, b)| a.ptr_eq(b)));

    let unsaved = Entry { id: None, rank: None, group: "x".into() };
    // Refused when the page is asked for, before anything is sent.
    ctx.log().clear();
    let err = page.clone().after(&unsaved).expect_err("no id");
    assert!(matches!(err, mongotic::Error::NoId { .. }), "{err}");
    let wrong = Keyset::new(vec![Bson::Int32(1)]);
    let err = page.after(wrong).expect_err("one value short");
    assert!(matches!(err, mongotic::Error::InvalidStatement { .. }), "{err}");
    assert!(ctx.log().is_empty());
});

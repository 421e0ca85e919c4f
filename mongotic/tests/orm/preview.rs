//! The dry run of a flush: what it shows is what the flush then sends (compared with the
//! driver's command monitoring), and it sends nothing itself.

use mongotic::bson::{Document, doc};

use crate::common::*;
use crate::concurrency::Doc;

/// The command as the flush's writer built it: without the fields the driver adds, which
/// the preview documents.
fn as_built(mut command: Document) -> Document {
    for field in mongotic::session::FlushPreview::DRIVER_FIELDS {
        command.remove(field);
    }
    command
}

scenario!(a_preview_shows_exactly_what_the_flush_sends, |ctx| {
    let base = ctx.engine.clone();
    // The session's options show in the commands as they are sent.
    let options = mongotic::options::Options::new()
        .comment("previewed")
        .write_concern(mongotic::options::WriteConcern::builder().w_timeout(std::time::Duration::from_secs(5)).build());
    for (round, bulk_write) in [true, false].into_iter().enumerate() {
        ctx.engine = base.with_client_bulk_write(bulk_write);
        let n = round as i64 * 100;
        let mut session = ctx.session();
        session.set_options(options.clone());
        let alice = session.add(user(&format!("Alice{round}"), &format!("alice{round}@x.io"), 30));
        let old = session.add(post(&format!("old{round}")));
        let versioned = session.add(Doc { id: n, title: "draft".into(), version: 0 });
        aw!(session.commit())?;

        alice.write().age = Some(31);
        versioned.write().title = "final".into();
        session.delete(&old)?;
        session.add(post(&format!("new{round}")));
        session.add(Comment { id: n, body: "hi".into() });
        ctx.log().clear();
        let preview = aw!(session.preview_flush())?;
        assert!(ctx.log().is_empty(), "a preview sends nothing: {:?}", ctx.log().names());
        assert_eq!(versioned.read().version, 0, "the preview leaves the version as stored");
        assert_eq!(preview.in_transaction(), ctx.transactional());

        aw!(session.commit())?;
        let names = ctx.log().names();
        assert_eq!(names.len(), preview.round_trips(), "{names:?}");
        let mut expected_names: Vec<String> =
            preview.commands().iter().filter_map(|command| command.keys().next().cloned()).collect();
        if preview.in_transaction() {
            expected_names.push("commitTransaction".into());
        }
        assert_eq!(names, expected_names);
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (name, previewed) in names.iter().zip(preview.commands()) {
            let nth = match seen.iter_mut().find(|(known, _)| known == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    seen.push((name.clone(), 0));
                    0
                }
            };
            let sent = as_built(ctx.log().commands(name)[nth].clone());
            assert_eq!(&sent, previewed, "{name} (bulkWrite {bulk_write})");
        }
        assert_eq!(aw!(ctx.count::<Doc>(doc! { "_id": n, "title": "final", "version": 1 })), 1);
    }
});

scenario!(a_preview_of_nothing_is_empty, |ctx| {
    let mut session = ctx.session();
    let preview = aw!(session.preview_flush())?;
    assert!(preview.commands().is_empty());
    assert_eq!(preview.round_trips(), 0);
});

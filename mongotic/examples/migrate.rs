//! A command-line migration runner to copy into your project: your steps in `migrations()`,
//! then `cargo run --example migrate -- --dry-run` to list what would run, and without
//! `--dry-run` to run it, with a progress line per backfill page.
//!
//! ```text
//! cargo run --example migrate -- --dry-run
//! cargo run --example migrate
//! MONGODB_URI=mongodb://host/app cargo run --example migrate
//! ```
//!
//! With `MONGODB_URI` set it migrates the database named in it (or `MIGRATE_DATABASE`). Without
//! it, it runs against the project's test server, in a scratch database seeded with 20,000
//! documents in the old shape, so the example shows a real backfill (and drops it at the end).

use std::io::Write;

use mongotic::bson::doc;
use mongotic::expr::path;
use mongotic::migrate::Migrations;
use mongotic::prelude::*;

/// The project's migrations, oldest first. Names are stable: the ledger knows steps by name.
fn migrations() -> Migrations {
    Migrations::new()
        .backfill("2026-12-split-fullname", "users", path("fullname").exists(true), |user| {
            let fullname = user.get("fullname").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let (first, last) = fullname.split_once(' ').unwrap_or((fullname.as_str(), ""));
            user.set("first_name", first)?;
            user.set("last_name", last)?;
            user.unset("fullname");
            Ok(())
        })
        .page_size(1_000)
        .update("2026-12-rename-mail", "users", path("mail").exists(true), doc! { "$rename": { "mail": "email" } })
}

#[tokio::main]
async fn main() -> mongotic::Result<()> {
    let dry_run = std::env::args().any(|arg| arg == "--dry-run");
    let (engine, scratch) = match std::env::var("MONGODB_URI") {
        Ok(uri) => {
            let mut engine = create_engine(&uri).await?;
            if let Ok(database) = std::env::var("MIGRATE_DATABASE") {
                engine = engine.with_database(&database);
            }
            (engine, None)
        }
        Err(_) => {
            let scratch = mongotic_test_server::TestDb::new();
            let engine = create_engine(&mongotic_test_server::uri()).await?.with_database(scratch.name());
            seed(&engine, 20_000).await?;
            (engine, Some(scratch))
        }
    };

    let pending = migrations().pending(&engine).await?;
    if pending.is_empty() {
        println!("nothing to migrate");
    }
    for name in &pending {
        println!("{} {name}", if dry_run { "would run" } else { "pending" });
    }
    if !dry_run && !pending.is_empty() {
        let report = migrations()
            .on_progress(|progress| {
                let state = if progress.finished { "done\n" } else { "" };
                eprint!("\r{}: {} documents {state}", progress.step, progress.done);
                let _ = std::io::stderr().flush();
            })
            .run(&engine)
            .await?;
        println!("applied {} step(s), {} document(s)", report.applied.len(), report.documents);
    }
    if let Some(scratch) = scratch {
        engine.client().database(scratch.name()).drop().await.map_err(|err| mongotic::Error::Driver { source: err })?;
    }
    Ok(())
}

/// Users in the old shape: `fullname` and `mail`.
async fn seed(engine: &Engine, n: u32) -> mongotic::Result<()> {
    let mut session = sessionmaker(engine).session();
    let mut users = session.documents("users")?;
    for i in 0..n {
        users.add(doc! { "fullname": format!("User{i} Example"), "mail": format!("user{i}@example.com") })?;
    }
    users.flush().await
}

//! The user guide: how to use mongotic, one chapter per topic.
//!
//! The API reference lives with the items themselves ([`Session`](crate::Session),
//! [`select`](crate::select), [`Error`](crate::Error), …); these chapters explain how the
//! pieces fit together and what the library promises. Every Rust example in them is compiled
//! as a doc test.
//!
//! 1. [`getting_started`]: a model, an engine, a session, the first queries and writes.
//! 2. [`queries`]: the query language, results, bulk statements and keyset pages.
//! 3. [`unit_of_work`]: the identity map, change tracking and the flush.
//! 4. [`transactions`]: what a commit guarantees, explicit transactions and retries.
//! 5. [`concurrency`]: version fields, validation, lifecycle hooks and timestamps.
//! 6. [`relations`]: typed references and batched loading.
//! 7. [`aggregation`]: grouped queries and hand-written pipelines.
//! 8. [`schema`]: validators generated from the models, collection kinds, views, and
//!    `sync_schema`.
//! 9. [`scopes`]: upserts on a natural key, soft delete and tenants that hold on every path.
//! 10. [`polymorphic`]: enum models, several types in one collection, and their views.
//! 11. [`change_streams`]: typed change events, and consumers that apply each one once.
//! 12. [`migrations`]: documents without a model, and migrations that run once.
//! 13. [`observability`]: tracing spans, the dry run of a flush, and errors.
//! 14. [`blocking`]: the blocking API, side by side with the async one.
//! 15. [`example_service`]: an axum web service on mongotic.
//! 16. [`performance`]: what mongotic costs next to the raw driver, and how it is measured.
//! 17. [`testing`]: the test server, and running the tests against your own MongoDB.

pub mod getting_started {
    #![doc = include_str!("getting_started.md")]
}

pub mod queries {
    #![doc = include_str!("queries.md")]
}

pub mod unit_of_work {
    #![doc = include_str!("unit_of_work.md")]
}

pub mod transactions {
    #![doc = include_str!("transactions.md")]
}

pub mod concurrency {
    #![doc = include_str!("concurrency.md")]
}

pub mod relations {
    #![doc = include_str!("relations.md")]
}

pub mod aggregation {
    #![doc = include_str!("aggregation.md")]
}

pub mod schema {
    #![doc = include_str!("schema.md")]
}

pub mod scopes {
    #![doc = include_str!("scopes.md")]
}

pub mod polymorphic {
    #![doc = include_str!("polymorphic.md")]
}

pub mod change_streams {
    #![doc = include_str!("change_streams.md")]
}

pub mod migrations {
    #![doc = include_str!("migrations.md")]
}

pub mod observability {
    #![doc = include_str!("observability.md")]
}

pub mod blocking {
    #![doc = include_str!("blocking.md")]
}

pub mod example_service {
    #![doc = include_str!("example_service.md")]
}

pub mod performance {
    #![doc = include_str!("performance.md")]
    #![doc = include_str!("scaling.svg")]
}

pub mod testing {
    #![doc = include_str!("testing.md")]
}

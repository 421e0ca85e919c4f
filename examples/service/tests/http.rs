//! The service driven over HTTP by a real client, against the project's test server (or
//! `MONGODB_URI`): CRUD, each error mapping, ids as plain strings, no internal detail in
//! error bodies, and concurrent updates of one resource.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use mongotic::{Engine, create_indexes, sessionmaker};
use mongotic_example_service::{ErrorCode, Post, User, app};
use mongotic_test_server::{TestDb, Topology, client_options_for};
use reqwest::StatusCode;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The service on a free port, on a database of its own; the database is dropped with it.
struct Running {
    base: String,
    _db: TestDb,
}

async fn start() -> Result<Running, Box<dyn std::error::Error>> {
    let db = TestDb::new();
    let options = client_options_for(Topology::ReplicaSet, None).await.ok_or("no test server")?;
    let engine = Engine::from_options(options)?.with_database(db.name());
    create_indexes::<(User, Post)>(&engine).await?;
    Ok(Running { base: serve(engine).await?, _db: db })
}

async fn serve(engine: Engine) -> Result<String, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app(sessionmaker(&engine))).await;
    });
    Ok(format!("http://{addr}"))
}

async fn create_user(client: &reqwest::Client, base: &str, email: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let response = client.post(format!("{base}/users")).json(&json!({ "email": email, "name": "Ann" })).send().await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    Ok(response.json().await?)
}

#[tokio::test]
async fn crud_over_http() -> TestResult {
    let service = start().await?;
    let base = &service.base;
    let client = reqwest::Client::new();
    let created = create_user(&client, base, "ann@example.com").await?;
    let id = created["id"].as_str().ok_or("an id")?.to_owned();
    assert_eq!(created["version"], 0);

    let read: Value = client.get(format!("{base}/users/{id}")).send().await?.json().await?;
    assert_eq!(read["email"], "ann@example.com");

    let patched =
        client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Anne", "version": 0 })).send().await?;
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await?;
    assert_eq!((patched["name"].as_str(), patched["version"].as_i64()), (Some("Anne"), Some(1)));

    let post = client.post(format!("{base}/users/{id}/posts")).json(&json!({ "title": "Hello" })).send().await?;
    assert_eq!(post.status(), StatusCode::CREATED);
    let posts: Value = client.get(format!("{base}/users/{id}/posts")).send().await?.json().await?;
    assert_eq!(posts.as_array().map(Vec::len), Some(1));
    assert_eq!(posts[0]["title"], "Hello");

    let deleted = client.delete(format!("{base}/users/{id}")).send().await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = client.get(format!("{base}/users/{id}")).send().await?;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn errors_map_to_statuses_with_a_json_body() -> TestResult {
    let service = start().await?;
    let base = &service.base;
    let client = reqwest::Client::new();

    let missing = client.get(format!("{base}/users/507f1f77bcf86cd799439011")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.json::<Value>().await?["error"], "not_found");

    let invalid =
        client.post(format!("{base}/users")).json(&json!({ "email": "not an email", "name": "" })).send().await?;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = invalid.json().await?;
    assert_eq!(body["error"], "validation");
    let mut fields: Vec<&str> =
        body["fields"].as_array().ok_or("fields")?.iter().filter_map(|f| f["field"].as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "name"]);

    let created = create_user(&client, base, "bob@example.com").await?;
    let duplicate =
        client.post(format!("{base}/users")).json(&json!({ "email": "bob@example.com", "name": "Bob" })).send().await?;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    assert_eq!(duplicate.json::<Value>().await?["error"], "duplicate");

    let id = created["id"].as_str().ok_or("an id")?;
    let first =
        client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Robert", "version": 0 })).send().await?;
    assert_eq!(first.status(), StatusCode::OK);
    let stale = client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Rob", "version": 0 })).send().await?;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(stale.json::<Value>().await?["error"], "conflict");

    let malformed = client.get(format!("{base}/users/not-an-id")).send().await?;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.json::<Value>().await?["error"], "malformed_id");

    // A server that cannot be reached.
    let unavailable = serve(nowhere().await?).await?;
    let response = client.get(format!("{unavailable}/users/507f1f77bcf86cd799439011")).send().await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json::<Value>().await?["error"], "unavailable");
    Ok(())
}

/// An engine whose server cannot be reached: every request that needs the database fails.
async fn nowhere() -> Result<Engine, Box<dyn std::error::Error>> {
    let uri = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300";
    Ok(mongotic::create_engine(uri).await?.with_database("nowhere"))
}

/// Every string in `value` that is the value of an `id`, `author` (of a post) or `next` field,
/// after checking that no `$oid` wrapper is left anywhere.
fn assert_plain_ids(value: &Value) {
    let text = value.to_string();
    assert!(!text.contains("$oid"), "an id as an extended JSON object: {text}");
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                if name == "id" || name == "next" || (name == "author" && fields.contains_key("title")) {
                    let id = field.as_str().unwrap_or_else(|| panic!("{name} is not a string: {text}"));
                    assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {id:?}");
                }
                assert_plain_ids(field);
            }
        }
        Value::Array(items) => items.iter().for_each(assert_plain_ids),
        _ => {}
    }
}

#[tokio::test]
async fn ids_are_plain_strings_in_every_response() -> TestResult {
    let service = start().await?;
    let base = &service.base;
    let client = reqwest::Client::new();
    let created = create_user(&client, base, "fay@example.com").await?;
    assert_plain_ids(&created);
    let id = created["id"].as_str().ok_or("an id")?.to_owned();
    assert!(created.get("_id").is_none());

    let mut bodies = vec![client.get(format!("{base}/users/{id}")).send().await?.json::<Value>().await?];
    let patched = client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Fay", "version": 0 }));
    bodies.push(patched.send().await?.json().await?);
    bodies.push(client.post(format!("{base}/users/{id}/visit")).send().await?.json().await?);
    for title in ["one", "two"] {
        let post = client.post(format!("{base}/users/{id}/posts")).json(&json!({ "title": title }));
        let post: Value = post.send().await?.json().await?;
        assert_eq!(post["author"], id.as_str(), "a post's author is its author's id");
        bodies.push(post);
    }
    bodies.push(client.get(format!("{base}/users/{id}/posts")).send().await?.json().await?);
    let page: Value = client.get(format!("{base}/posts?limit=1")).send().await?.json().await?;
    assert!(page["next"].is_string(), "a full page has a next token");
    bodies.push(page);
    for body in &bodies {
        assert_plain_ids(body);
    }
    for user in &bodies[..3] {
        assert_eq!(user["id"], id.as_str());
    }
    Ok(())
}

#[tokio::test]
async fn a_malformed_id_is_a_400() -> TestResult {
    let service = start().await?;
    let base = &service.base;
    let client = reqwest::Client::new();
    let bad = "not-an-id";
    let requests = [
        client.get(format!("{base}/users/{bad}")),
        client.patch(format!("{base}/users/{bad}")).json(&json!({ "name": "X", "version": 0 })),
        client.delete(format!("{base}/users/{bad}")),
        client.post(format!("{base}/users/{bad}/visit")),
        client.get(format!("{base}/users/{bad}/posts")),
        client.post(format!("{base}/users/{bad}/posts")).json(&json!({ "title": "t" })),
        client.get(format!("{base}/users/507f1f77bcf86cd79943901")), // 23 digits
        client.get(format!("{base}/posts?after={bad}")),
    ];
    for request in requests {
        let response = request.send().await?;
        let url = response.url().clone();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        let body: Value = response.json().await?;
        assert_eq!(body, json!({ "error": "malformed_id", "message": ErrorCode::MalformedId.message() }), "{url}");
    }
    // A well-formed id nobody has is still a 404.
    let missing = client.get(format!("{base}/users/507f1f77bcf86cd799439011")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.json::<Value>().await?, json!({ "error": "not_found", "message": "no such user" }));
    Ok(())
}

/// An event: the names of the spans it happened in (innermost first), and its fields.
type Event = (Vec<String>, String);

/// Every event logged while the layer is the thread's subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Event>>>);

impl<S> tracing_subscriber::Layer<S> for Captured
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let spans = ctx.event_scope(event).into_iter().flatten().map(|span| span.name().to_owned()).collect();
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().expect("captured events").push((spans, fields.0));
    }
}

#[tokio::test]
async fn server_errors_are_logged_and_their_detail_never_answered() -> TestResult {
    use tracing_subscriber::layer::SubscriberExt;

    // A current-thread runtime: the service's tasks run on this thread, under this subscriber.
    let captured = Captured::default();
    let _subscriber = tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    let base = serve(nowhere().await?).await?;
    let client = reqwest::Client::new();
    let requests = [
        client.get(format!("{base}/users/507f1f77bcf86cd799439011")),
        client.post(format!("{base}/users")).json(&json!({ "email": "gil@example.com", "name": "Gil" })),
        client.get(format!("{base}/posts")),
    ];
    for request in requests {
        let response = request.send().await?;
        let url = response.url().clone();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{url}");
        let body = response.text().await?;
        let expected = json!({ "error": "unavailable", "message": ErrorCode::Unavailable.message() });
        assert_eq!(serde_json::from_str::<Value>(&body)?, expected, "{url}");
        for internal in ["127.0.0.1", ":9", "nowhere", "users", "posts", "Server", "server selection", "timed out"] {
            assert!(!body.contains(internal), "{url}: {internal:?} in {body}");
        }
    }
    // The detail went to the log, inside each request's span.
    let events = captured.0.lock().expect("captured events").clone();
    let failures: Vec<_> = events.iter().filter(|(_, fields)| fields.contains("request failed")).collect();
    assert_eq!(failures.len(), 3, "{events:?}");
    for (spans, fields) in failures {
        assert_eq!(spans.first().map(String::as_str), Some("request"), "{spans:?}");
        assert!(fields.contains("code=\"unavailable\"") || fields.contains("code=unavailable"), "{fields}");
        assert!(fields.contains("127.0.0.1:9"), "the log names the server: {fields}");
    }
    Ok(())
}

#[tokio::test]
async fn posts_page_newest_first_with_their_authors() -> TestResult {
    let service = start().await?;
    let base = &service.base;
    let client = reqwest::Client::new();
    let mut titles = Vec::new();
    for (n, email) in ["dan@example.com", "eve@example.com"].into_iter().enumerate() {
        let user = create_user(&client, base, email).await?;
        let id = user["id"].as_str().ok_or("an id")?.to_owned();
        for i in 0..3 {
            let title = format!("post {n}.{i}");
            let response =
                client.post(format!("{base}/users/{id}/posts")).json(&json!({ "title": title })).send().await?;
            assert_eq!(response.status(), StatusCode::CREATED);
            titles.push(title);
        }
    }
    titles.reverse(); // newest first
    let mut seen = Vec::new();
    let mut url = format!("{base}/posts?limit=4");
    loop {
        let page: Value = client.get(&url).send().await?.json().await?;
        for entry in page["posts"].as_array().ok_or("posts")? {
            assert_eq!(entry["author"], "Ann", "the author, loaded with the page");
            seen.push(entry["post"]["title"].as_str().ok_or("a title")?.to_owned());
        }
        match page["next"].as_str() {
            Some(next) => url = format!("{base}/posts?limit=4&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, titles);
    Ok(())
}

#[tokio::test]
async fn concurrent_updates_of_one_user_lose_nothing() -> TestResult {
    let service = start().await?;
    let client = reqwest::Client::new();
    let created = create_user(&client, &service.base, "carol@example.com").await?;
    let id = created["id"].as_str().ok_or("an id")?.to_owned();
    let visits = (0..40).map(|_| {
        let (client, url) = (client.clone(), format!("{}/users/{id}/visit", service.base));
        tokio::spawn(async move { client.post(url).send().await.map(|response| response.status()) })
    });
    for visit in futures::future::join_all(visits).await {
        assert_eq!(visit??, StatusCode::OK);
    }
    let read: Value = client.get(format!("{}/users/{id}", service.base)).send().await?.json().await?;
    assert_eq!(read["visits"], 40);
    assert_eq!(read["version"], 40);
    Ok(())
}

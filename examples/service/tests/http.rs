//! The service driven over HTTP by a real client, against the project's test server (or
//! `MONGODB_URI`): CRUD, each error mapping, and concurrent updates of one resource.

use std::net::SocketAddr;

use mongotic::{Engine, create_indexes, sessionmaker};
use mongotic_example_service::{Post, User, app};
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
    let id = created["_id"]["$oid"].as_str().ok_or("an ObjectId")?.to_owned();
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

    let id = created["_id"]["$oid"].as_str().ok_or("an ObjectId")?;
    let first =
        client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Robert", "version": 0 })).send().await?;
    assert_eq!(first.status(), StatusCode::OK);
    let stale = client.patch(format!("{base}/users/{id}")).json(&json!({ "name": "Rob", "version": 0 })).send().await?;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(stale.json::<Value>().await?["error"], "conflict");

    // A server that cannot be reached.
    let nowhere =
        mongotic::create_engine("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300").await?;
    let unavailable = serve(nowhere.with_database("nowhere")).await?;
    let response = client.get(format!("{unavailable}/users/507f1f77bcf86cd799439011")).send().await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.json::<Value>().await?["error"], "unavailable");
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
        let id = user["_id"]["$oid"].as_str().ok_or("an ObjectId")?.to_owned();
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
    let id = created["_id"]["$oid"].as_str().ok_or("an ObjectId")?.to_owned();
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

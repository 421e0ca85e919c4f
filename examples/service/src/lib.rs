//! An axum service on mongotic: users and their posts, JSON in and out.
//!
//! - A session per request, from the [`SessionFactory`] in the app state; a request's changes
//!   are one commit (a transaction on a replica set).
//! - Errors become HTTP statuses with a JSON body (see [`ApiError`]): not found 404,
//!   validation 422, duplicate key and conflicts 409, server unavailable 503.
//! - Concurrent updates of one user are safe: the model has a version field, so a lost
//!   update is a 409 the client can retry.
//! - `GET /posts` pages through all posts newest first with a keyset (no `skip`), and loads
//!   the page's authors with one query through a typed reference (`Ref<User>`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mongotic::bson::oid::ObjectId;
use mongotic::prelude::*;
use mongotic::relation::Ref;
use mongotic::statement::Keyset;
use mongotic::{Error, SessionFactory, WriteKind};
use serde_json::json;

/// A user. Emails are unique and checked; the version field makes concurrent updates safe.
#[derive(Debug, Clone, Serialize, Deserialize, Model, garde::Validate)]
#[mongotic(collection = "users")]
#[garde(allow_unvalidated)]
pub struct User {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    #[mongotic(unique)]
    #[garde(email)]
    pub email: String,
    #[garde(length(min = 1, max = 80))]
    pub name: String,
    #[serde(default)]
    pub visits: i64,
    #[serde(default)]
    #[mongotic(version)]
    pub version: i64,
}

/// A post, referencing its author (stored as the author's plain id).
#[derive(Debug, Clone, Serialize, Deserialize, Model, garde::Validate)]
#[mongotic(collection = "posts")]
#[garde(allow_unvalidated)]
pub struct Post {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    #[mongotic(index)]
    pub author: Ref<User>,
    #[garde(length(min = 1, max = 200))]
    pub title: String,
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub name: String,
}

/// The body of `PATCH /users/{id}`: the fields to change, and the version the client read.
#[derive(Debug, Deserialize)]
pub struct UserChange {
    pub name: Option<String>,
    pub visits: Option<i64>,
    pub version: i64,
}

/// The body of `POST /users/{id}/posts`.
#[derive(Debug, Deserialize)]
pub struct NewPost {
    pub title: String,
}

/// The query of `GET /posts`: the page size, and where the previous page ended.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    /// Posts per page (1 to 100, 20 by default).
    pub limit: Option<u64>,
    /// The `next` of the previous page: the id of its last post.
    pub after: Option<String>,
}

/// One entry of `GET /posts`: the post and its author's name.
#[derive(Debug, Serialize)]
pub struct PostWithAuthor {
    /// The post.
    pub post: Post,
    /// Its author's name.
    pub author: String,
}

/// A page of `GET /posts`, with the token of the next page (`None` on the last one).
#[derive(Debug, Serialize)]
pub struct PostPage {
    /// The posts of this page, newest first.
    pub posts: Vec<PostWithAuthor>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
}

/// The service's routes, with their session factory.
pub fn app(factory: SessionFactory) -> Router {
    Router::new()
        .route("/posts", get(page_posts))
        .route("/users", axum::routing::post(create_user))
        .route("/users/{id}", get(read_user).patch(update_user).delete(delete_user))
        .route("/users/{id}/visit", axum::routing::post(visit))
        .route("/users/{id}/posts", get(list_posts).post(create_post))
        .with_state(factory)
}

/// An error as the API answers it: a status and a JSON body `{error, message}` (with the
/// failing fields for a validation error).
#[derive(Debug)]
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        let (status, kind) = if err.is_not_found() {
            (StatusCode::NOT_FOUND, "not_found")
        } else if err.is_validation() {
            (StatusCode::UNPROCESSABLE_ENTITY, "validation")
        } else if err.is_duplicate_key() {
            (StatusCode::CONFLICT, "duplicate")
        } else if err.is_conflict() {
            (StatusCode::CONFLICT, "conflict")
        } else if err.is_connection() {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        };
        let mut body = json!({ "error": kind, "message": err.to_string() });
        if let Error::Validation { invalid } = err.cause() {
            let fields: Vec<_> = invalid
                .iter()
                .flat_map(|value| value.violations.iter())
                .map(|violation| json!({ "field": violation.path, "message": violation.message }))
                .collect();
            body["fields"] = json!(fields);
        }
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn parse_id(text: &str, namespace: &str) -> Result<ObjectId, ApiError> {
    // A malformed id names no user: not found, as for an id nobody has.
    text.parse().map_err(|_| ApiError(Error::NotFound { namespace: namespace.into(), id: None }))
}

async fn find_user(session: &mut Session, id: &str) -> ApiResult<Tracked<User>> {
    let id = parse_id(id, "users")?;
    session.get::<User>(id).await?.ok_or_else(|| ApiError(Error::NotFound { namespace: "users".into(), id: None }))
}

async fn create_user(
    State(factory): State<SessionFactory>,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let mut session = factory.session();
    let user = session.add(User { id: None, email: body.email, name: body.name, visits: 0, version: 0 });
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(user.cloned())))
}

async fn read_user(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<User>> {
    let mut session = factory.session();
    Ok(Json(find_user(&mut session, &id).await?.cloned()))
}

async fn update_user(
    State(factory): State<SessionFactory>,
    Path(id): Path<String>,
    Json(change): Json<UserChange>,
) -> ApiResult<Json<User>> {
    let mut session = factory.session();
    let user = find_user(&mut session, &id).await?;
    // The client changes what it read: if the user changed since, that is a conflict (and
    // the version filter of the commit covers a change between this read and the commit).
    let found = user.read().version;
    if found != change.version {
        return Err(ApiError(Error::VersionConflict {
            model: "User",
            namespace: "users".into(),
            id: Box::new(user.id().map_or(mongotic::bson::Bson::Null, Into::into)),
            kind: WriteKind::Update,
            expected: change.version,
            found: Some(found),
        }));
    }
    {
        let mut value = user.write();
        if let Some(name) = change.name {
            value.name = name;
        }
        if let Some(visits) = change.visits {
            value.visits = visits;
        }
    }
    session.commit().await?;
    Ok(Json(user.cloned()))
}

/// Counts a visit: read, increment, commit; a conflict (someone else counted at the same time)
/// reads again.
async fn visit(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<User>> {
    loop {
        let mut session = factory.session();
        let user = find_user(&mut session, &id).await?;
        user.write().visits += 1;
        match session.commit().await {
            Ok(()) => return Ok(Json(user.cloned())),
            Err(err) if err.is_conflict() => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

async fn delete_user(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let mut session = factory.session();
    let user = find_user(&mut session, &id).await?;
    session.delete(&user)?;
    session.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_post(
    State(factory): State<SessionFactory>,
    Path(id): Path<String>,
    Json(body): Json<NewPost>,
) -> ApiResult<(StatusCode, Json<Post>)> {
    let mut session = factory.session();
    let author = Ref::to(&find_user(&mut session, &id).await?)?;
    let post = session.add(Post { id: None, author, title: body.title });
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(post.cloned())))
}

async fn list_posts(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<Vec<Post>>> {
    let mut session = factory.session();
    let author = Ref::<User>::new(parse_id(&id, "users")?);
    let posts = session.scalars(select::<Post>().filter(Post::author.eq(author)).order_by(Post::id)).all().await?;
    Ok(Json(posts.iter().map(Tracked::cloned).collect()))
}

/// All posts, newest first, a page at a time: two queries per page whatever its size (the
/// posts, then their authors), and each next page starts after the last post by a filter on
/// `_id`, so pages stay cheap and stable while posts are added.
async fn page_posts(
    State(factory): State<SessionFactory>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<PostPage>> {
    let mut session = factory.session();
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let mut page = select::<Post>().order_by(-Post::id).keyset().limit(limit).load(Post::author);
    if let Some(after) = query.after {
        let last = parse_id(&after, "posts")?;
        page = page.after(Keyset::new(vec![last.into()]))?;
    }
    let posts = session.scalars(page).all().await?;
    let next =
        if posts.len() as u64 == limit { posts.last().and_then(Tracked::id).map(|id| id.to_hex()) } else { None };
    let posts = posts
        .iter()
        .map(|post| {
            let author = session.related(post, Post::author)?.read().name.clone();
            Ok(PostWithAuthor { post: post.cloned(), author })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Json(PostPage { posts, next }))
}

//! An axum service on mongotic: users and their posts, JSON in and out.
//!
//! - A session per request, from the [`SessionFactory`] in the app state; a request's changes
//!   are one commit (a transaction on a replica set).
//! - Ids are plain strings in JSON (`"507f1f77bcf86cd799439011"`); a path or page token that
//!   is not an id is a 400.
//! - Errors become HTTP statuses with a JSON body of a stable code and a fixed message (see
//!   [`ApiError`]): malformed id 400, not found 404, validation 422 (with the failing fields),
//!   duplicate key and conflicts 409, server unavailable 503, anything else 500. What went
//!   wrong inside is logged, in the request's span, never sent to the client.
//! - Every request is a `tracing` span (`request`, with its method, path and status), the
//!   parent of the spans mongotic makes for its statements and flushes.
//! - Concurrent updates of one user are safe: the model has a version field, so a lost
//!   update is a 409 the client can retry.
//! - `GET /posts` pages through all posts newest first with a keyset (no `skip`), and loads
//!   the page's authors with one query through a typed reference (`Ref<User>`).

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mongotic::bson::oid::ObjectId;
use mongotic::prelude::*;
use mongotic::relation::Ref;
use mongotic::statement::Keyset;
use mongotic::{Error, SessionFactory};
use serde_json::json;
use tracing::Instrument;
use tracing::field::Empty;

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

/// A user as the API shows it: the models are what is stored (an `ObjectId` serializes as
/// `{"$oid": ...}` outside BSON), these are what clients read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    /// The id, 24 hexadecimal digits.
    pub id: String,
    pub email: String,
    pub name: String,
    pub visits: i64,
    /// Send it back with a change: a change of a user someone else changed since is a 409.
    pub version: i64,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: hex(user.id),
            email: user.email.clone(),
            name: user.name.clone(),
            visits: user.visits,
            version: user.version,
        }
    }
}

/// A post as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostView {
    /// The id, 24 hexadecimal digits.
    pub id: String,
    /// The author's id.
    pub author: String,
    pub title: String,
}

impl From<&Post> for PostView {
    fn from(post: &Post) -> Self {
        PostView { id: hex(post.id), author: post.author.id().to_hex(), title: post.title.clone() }
    }
}

/// An id as the API writes it. Every entity the API answers with was read or committed, so
/// it has one.
fn hex(id: Option<ObjectId>) -> String {
    id.map(|id| id.to_hex()).unwrap_or_default()
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
    pub post: PostView,
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

/// The service's routes, with their session factory. Each request runs in a `request` span.
pub fn app(factory: SessionFactory) -> Router {
    Router::new()
        .route("/posts", get(page_posts))
        .route("/users", axum::routing::post(create_user))
        .route("/users/{id}", get(read_user).patch(update_user).delete(delete_user))
        .route("/users/{id}/visit", axum::routing::post(visit))
        .route("/users/{id}/posts", get(list_posts).post(create_post))
        .with_state(factory)
        .layer(middleware::from_fn(trace_request))
}

/// Runs a request in a span of its own, so what is logged while it runs (its errors, the
/// statements and flushes mongotic traces) is tied to it.
async fn trace_request(request: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), status = Empty);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}

/// What went wrong, as the API tells it: a stable code, one fixed message per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A path or page token that is not an id: 400.
    MalformedId,
    /// No user with that id: 404.
    NotFound,
    /// Invalid fields in the request: 422, with the fields.
    Validation,
    /// A user with that email exists: 409.
    Duplicate,
    /// The user changed since the client read it: 409.
    Conflict,
    /// The database cannot be reached: 503.
    Unavailable,
    /// Anything else: 500.
    Internal,
}

impl ErrorCode {
    /// The `error` field of the body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedId => "malformed_id",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Validation => "validation",
            ErrorCode::Duplicate => "duplicate",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The `message` field of the body: the same for every error of the code.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::MalformedId => "an id is 24 hexadecimal digits",
            ErrorCode::NotFound => "no such user",
            ErrorCode::Validation => "some fields are invalid",
            ErrorCode::Duplicate => "a user with this email exists already",
            ErrorCode::Conflict => "the user changed since it was read: read it again",
            ErrorCode::Unavailable => "the service is unavailable, try again later",
            ErrorCode::Internal => "internal error",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedId => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Duplicate | ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code of an error of mongotic.
    pub fn of(err: &Error) -> ErrorCode {
        if err.is_not_found() {
            ErrorCode::NotFound
        } else if err.is_validation() {
            ErrorCode::Validation
        } else if err.is_duplicate_key() {
            ErrorCode::Duplicate
        } else if err.is_conflict() {
            ErrorCode::Conflict
        } else if err.is_connection() {
            ErrorCode::Unavailable
        } else {
            ErrorCode::Internal
        }
    }
}

/// An error as the API answers it: the status of its code and a JSON body
/// `{"error": code, "message": fixed message}`, with the failing fields for a validation
/// error (`"fields": [{"field": "email", "message": ...}]`: they describe the client's input).
/// The error behind it, which may name servers, namespaces and ids, is logged in the
/// request's span and stays out of the body.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    source: Option<Error>,
}

impl ApiError {
    /// An error of `code` with nothing behind it to log.
    pub fn new(code: ErrorCode) -> Self {
        ApiError { code, source: None }
    }

    /// Its code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError { code: ErrorCode::of(&err), source: Some(err) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code;
        if let Some(err) = &self.source {
            // The details are for the logs: the current span is the request's.
            if code.status().is_server_error() {
                tracing::error!(code = code.as_str(), error = %err, "request failed");
            } else {
                tracing::info!(code = code.as_str(), error = %err, "request refused");
            }
        }
        let mut body = json!({ "error": code.as_str(), "message": code.message() });
        if let Some(Error::Validation { invalid }) = self.source.as_ref().map(Error::cause) {
            let fields: Vec<_> = invalid
                .iter()
                .flat_map(|value| value.violations.iter())
                .map(|violation| json!({ "field": violation.path, "message": violation.message }))
                .collect();
            body["fields"] = json!(fields);
        }
        (code.status(), Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// An id from a path or a page token: anything but 24 hexadecimal digits is a 400.
fn parse_id(text: &str) -> Result<ObjectId, ApiError> {
    text.parse().map_err(|_| ApiError::new(ErrorCode::MalformedId))
}

async fn find_user(session: &mut Session, id: &str) -> ApiResult<Tracked<User>> {
    let id = parse_id(id)?;
    session.get::<User>(id).await?.ok_or(ApiError::new(ErrorCode::NotFound))
}

async fn create_user(
    State(factory): State<SessionFactory>,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let mut session = factory.session();
    let user = session.add(User { id: None, email: body.email, name: body.name, visits: 0, version: 0 });
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&*user.read()))))
}

async fn read_user(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<UserView>> {
    let mut session = factory.session();
    let user = find_user(&mut session, &id).await?;
    Ok(Json(UserView::from(&*user.read())))
}

async fn update_user(
    State(factory): State<SessionFactory>,
    Path(id): Path<String>,
    Json(change): Json<UserChange>,
) -> ApiResult<Json<UserView>> {
    let mut session = factory.session();
    let user = find_user(&mut session, &id).await?;
    // The client changes what it read: if the user changed since, that is a conflict (and
    // the version filter of the commit covers a change between this read and the commit).
    if user.read().version != change.version {
        return Err(ApiError::new(ErrorCode::Conflict));
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
    Ok(Json(UserView::from(&*user.read())))
}

/// Counts a visit: read, increment, commit; a conflict (someone else counted at the same time)
/// reads again.
async fn visit(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<UserView>> {
    loop {
        let mut session = factory.session();
        let user = find_user(&mut session, &id).await?;
        user.write().visits += 1;
        match session.commit().await {
            Ok(()) => return Ok(Json(UserView::from(&*user.read()))),
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
) -> ApiResult<(StatusCode, Json<PostView>)> {
    let mut session = factory.session();
    let author = Ref::to(&find_user(&mut session, &id).await?)?;
    let post = session.add(Post { id: None, author, title: body.title });
    session.commit().await?;
    Ok((StatusCode::CREATED, Json(PostView::from(&*post.read()))))
}

async fn list_posts(State(factory): State<SessionFactory>, Path(id): Path<String>) -> ApiResult<Json<Vec<PostView>>> {
    let mut session = factory.session();
    let author = Ref::<User>::new(parse_id(&id)?);
    let posts = session.scalars(select::<Post>().filter(Post::author.eq(author)).order_by(Post::id)).all().await?;
    Ok(Json(posts.iter().map(|post| PostView::from(&*post.read())).collect()))
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
        page = page.after(Keyset::new(vec![parse_id(&after)?.into()]))?;
    }
    let posts = session.scalars(page).all().await?;
    let next =
        if posts.len() as u64 == limit { posts.last().and_then(Tracked::id).map(|id| id.to_hex()) } else { None };
    let posts = posts
        .iter()
        .map(|post| {
            let author = session.related(post, Post::author)?.read().name.clone();
            Ok(PostWithAuthor { post: PostView::from(&*post.read()), author })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Json(PostPage { posts, next }))
}

//! Relations between models: typed references stored as plain ids, loaded in batches.
//!
//! A field of type [`Ref<T>`] holds the id of a `T` and is stored as that id, so documents
//! stay what any other client expects (`author: ObjectId("…")`). Its field descriptor is also
//! a [`Relation`] the session can load:
//!
//! - **many-to-one**: `Ref<T>` or `Option<Ref<T>>` (a post's author);
//! - **many-to-many**: `Vec<Ref<T>>` (a post's tags, an array of ids);
//! - **one-to-many**: the reverse side of either, [`Field::reverse`] (a user's posts: the posts
//!   whose `author` is the user).
//!
//! Loading is explicit and batched: [`Select::load`](crate::Select::load) loads a relation for
//! every entity a select returns, and [`Session::load`](crate::Session::load) for entities
//! already in hand. Either sends one `find` per relation for the whole batch (`_id: {$in:
//! [...]}`, or the reference field `$in` the ids for the reverse side), never one per entity,
//! and never `$lookup`. Loaded entities go through the identity map, so a referenced document
//! the session already tracks is the same handle, pending changes included, and is not fetched
//! again. [`Session::related`](crate::Session::related) reads a loaded relation without I/O; a
//! relation that was not loaded is [`Error::NotLoaded`], never a
//! hidden query, and a reference to a document that does not exist is
//! [`Error::DanglingReference`].
//!
//! ```no_run
//! use mongotic::prelude::*;
//! use mongotic::relation::{Ref, Reverse};
//!
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "blog", collection = "users")]
//! struct User { #[serde(rename = "_id")] id: Option<ObjectId>, name: String }
//!
//! #[allow(non_upper_case_globals)] // named like the fields the derive gives `User`
//! impl User {
//!     /// The posts whose author is this user (one-to-many).
//!     pub const posts: Reverse<Post, Ref<User>> = Post::author.reverse();
//! }
//!
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "blog", collection = "posts")]
//! struct Post {
//!     #[serde(rename = "_id")] id: Option<ObjectId>,
//!     title: String,
//!     #[mongotic(index)]
//!     author: Ref<User>,     // many-to-one, stored as the user's ObjectId
//!     tags: Vec<Ref<Tag>>,   // many-to-many, stored as an array of ids
//! }
//!
//! #[derive(Debug, Serialize, Deserialize, Model)]
//! #[mongotic(database = "blog", collection = "tags")]
//! struct Tag { #[serde(rename = "_id")] #[mongotic(id)] id: String }
//!
//! # async fn demo(mut session: Session) -> mongotic::Result<()> {
//! // Two queries for the posts, their authors and their tags: one each.
//! let posts = session.scalars(select::<Post>().load(Post::author).load(Post::tags)).all().await?;
//! for post in &posts {
//!     let author = session.related(post, Post::author)?; // a Tracked<User>, no I/O
//!     let tags = session.related(post, Post::tags)?;     // a Vec<Tracked<Tag>>
//!     println!("{} by {} ({} tags)", post.read().title, author.read().name, tags.len());
//! }
//!
//! // The reverse side, for users already in hand: one query for all of them.
//! let users = session.scalars(select::<User>()).all().await?;
//! session.load(&users, User::posts).await?;
//! let first_posts = session.related(&users[0], User::posts)?; // Vec<Tracked<Post>>
//! # Ok(()) }
//! ```

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use bson::Bson;
use futures::future::BoxFuture;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::expr::{Field, ValueOf};
use crate::model::ModelId;
use crate::options::Options;
use crate::session::Tracked;
use crate::{Error, Model, Result, Session};

/// A reference to an entity of model `T`, stored as `T`'s plain id.
///
/// It serializes as the id itself (an `ObjectId`, a string, a number…), so a `Ref<User>`
/// field is an ordinary id field to the server and to other clients. Make one from an id with
/// [`Ref::new`] or from a handle with [`Ref::to`]; a filter on a reference field also takes a
/// handle (`Post::author.eq(&alice)`).
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::relation::Ref;
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User { #[serde(rename = "_id")] #[mongotic(id)] id: i64 }
///
/// let author: Ref<User> = Ref::new(7);
/// assert_eq!(author.id(), &7);
/// assert_eq!(mongotic::bson::to_bson(&author).unwrap(), mongotic::bson::Bson::Int64(7));
/// ```
pub struct Ref<T: Model> {
    id: T::Id,
}

impl<T: Model> Ref<T> {
    /// A reference to the `T` whose id is `id`.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
    /// let id = ObjectId::new();
    /// assert_eq!(Ref::<User>::new(id).id(), &id);
    /// ```
    pub fn new(id: T::Id) -> Self {
        Ref { id }
    }

    /// A reference to the entity `entity`. Fails with [`Error::NoId`] when it has no id yet
    /// (a generated id is assigned by the flush: flush first, or set the id yourself).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
    /// let unsaved = Tracked::new(User { id: None });
    /// assert!(Ref::to(&unsaved).is_err());
    /// let saved = Tracked::new(User { id: Some(ObjectId::new()) });
    /// assert_eq!(Ref::to(&saved).unwrap().id(), &saved.id().unwrap());
    /// ```
    pub fn to(entity: &Tracked<T>) -> Result<Self> {
        entity.id().map(Ref::new).ok_or(Error::NoId { model: T::meta().name })
    }

    /// The id of the referenced entity.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "tags")]
    /// # struct Tag { #[serde(rename = "_id")] #[mongotic(id)] id: String }
    /// assert_eq!(Ref::<Tag>::new("rust".to_owned()).id(), "rust");
    /// ```
    pub fn id(&self) -> &T::Id {
        &self.id
    }

    /// The id, taking the reference apart.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "tags")]
    /// # struct Tag { #[serde(rename = "_id")] #[mongotic(id)] id: String }
    /// let id: String = Ref::<Tag>::new("rust".to_owned()).into_id();
    /// ```
    pub fn into_id(self) -> T::Id {
        self.id
    }
}

impl<T: Model> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref { id: self.id.clone() }
    }
}

impl<T: Model> PartialEq for Ref<T> {
    fn eq(&self, other: &Self) -> bool {
        // Ids compare by their stored form, as the identity map does.
        self.id.to_bson() == other.id.to_bson()
    }
}

impl<T: Model> Eq for Ref<T> {}

impl<T: Model> Hash for Ref<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        crate::model::IdKey::from_bson(&self.id.to_bson()).hash(state);
    }
}

impl<T: Model> fmt::Debug for Ref<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref<{}>({:?})", T::meta().name, self.id)
    }
}

impl<T: Model> Serialize for Ref<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.id.serialize(serializer)
    }
}

impl<'de, T: Model> Deserialize<'de> for Ref<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        T::Id::deserialize(deserializer).map(Ref::new)
    }
}

/// A handle stands for a reference to it in filters: `Post::author.eq(&alice)`. A handle
/// without an id yet makes the filter fail to compile to BSON (an error, not a panic).
impl<T: Model> ValueOf<Ref<T>> for &Tracked<T> {
    fn into_bson(self) -> std::result::Result<Bson, bson::ser::Error> {
        handle_id(self)
    }
}

/// See the `Ref<T>` implementation: `Post::reviewer.eq(&bob)` for an `Option<Ref<User>>`.
impl<T: Model> ValueOf<Option<Ref<T>>> for &Tracked<T> {
    fn into_bson(self) -> std::result::Result<Bson, bson::ser::Error> {
        handle_id(self)
    }
}

fn handle_id<T: Model>(entity: &Tracked<T>) -> std::result::Result<Bson, bson::ser::Error> {
    match entity.id() {
        Some(id) => Ok(id.to_bson()),
        None => Err(<bson::ser::Error as serde::ser::Error>::custom(format!(
            "the {} entity has no id yet: flush it before referencing it",
            T::meta().name
        ))),
    }
}

/// A field type that references entities of another model: `Ref<T>`, `Option<Ref<T>>`,
/// `Vec<Ref<T>>` or `Option<Vec<Ref<T>>>`. Its field descriptor is a [`Relation`].
///
/// ```
/// use mongotic::relation::{Ref, RefField};
/// # use mongotic::prelude::*;
/// # #[derive(Debug, Serialize, Deserialize, Model)]
/// # #[mongotic(collection = "users")]
/// # struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
/// fn target_of<V: RefField>() -> &'static str { <V::Target as Model>::meta().name }
/// assert_eq!(target_of::<Vec<Ref<User>>>(), "User");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reference field",
    label = "relations are fields of type `Ref<T>`, `Option<Ref<T>>`, `Vec<Ref<T>>` or `Option<Vec<Ref<T>>>`"
)]
pub trait RefField: Send + Sync + 'static {
    /// The referenced model.
    type Target: Model;

    /// What reading the loaded relation gives: one handle, an optional one, or a list.
    type Related;

    /// Builds the related value from the handles of the stored ids, in order; `None` when
    /// their number does not fit the field (a `Ref<T>` holds exactly one).
    #[doc(hidden)]
    fn assemble(found: Vec<Tracked<Self::Target>>) -> Option<Self::Related>;
}

impl<T: Model> RefField for Ref<T> {
    type Target = T;
    type Related = Tracked<T>;

    fn assemble(found: Vec<Tracked<T>>) -> Option<Tracked<T>> {
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }
}

impl<T: Model> RefField for Option<Ref<T>> {
    type Target = T;
    type Related = Option<Tracked<T>>;

    fn assemble(found: Vec<Tracked<T>>) -> Option<Option<Tracked<T>>> {
        let mut found = found.into_iter();
        match (found.next(), found.next()) {
            (one, None) => Some(one),
            _ => None,
        }
    }
}

impl<T: Model> RefField for Vec<Ref<T>> {
    type Target = T;
    type Related = Vec<Tracked<T>>;

    fn assemble(found: Vec<Tracked<T>>) -> Option<Vec<Tracked<T>>> {
        Some(found)
    }
}

impl<T: Model> RefField for Option<Vec<Ref<T>>> {
    type Target = T;
    type Related = Vec<Tracked<T>>;

    fn assemble(found: Vec<Tracked<T>>) -> Option<Vec<Tracked<T>>> {
        Some(found)
    }
}

/// A relation of model `M` that the session can load in a batch and read without I/O:
/// the descriptor of a reference field (`Post::author`, many-to-one; `Post::tags`,
/// many-to-many) or the reverse side of one ([`Reverse`], one-to-many). See the
/// [module documentation](self) for loading and reading.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::relation::{Ref, Relation};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "posts")]
/// struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Option<Ref<User>> }
///
/// // What reading each relation gives: a post's optional author; a user's posts.
/// fn author_of<R: Relation<Post, Related = Option<Tracked<User>>>>(_: R) {}
/// fn posts_of<R: Relation<User, Related = Vec<Tracked<Post>>>>(_: R) {}
/// author_of(Post::author);
/// posts_of(Post::author.reverse());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a relation of model `{M}`",
    label = "pass a reference field of `{M}` (`Post::author`) or the reverse of another model's reference to `{M}` (`Post::author.reverse()`)"
)]
pub trait Relation<M: Model>: Clone + Send + Sync + 'static {
    /// The model at the other end.
    type Target: Model;

    /// What [`Session::related`](crate::Session::related) returns for one entity.
    type Related;

    /// Loads the relation for `entities` with one query. Used by the session.
    #[doc(hidden)]
    fn load<'a>(
        &'a self,
        session: &'a mut Session,
        entities: &'a [Tracked<M>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>>;

    /// The loaded relation of `entity`, without I/O. Used by the session.
    #[doc(hidden)]
    fn related(&self, session: &Session, entity: &Tracked<M>) -> Result<Self::Related>;
}

impl<M: Model, V: RefField> Relation<M> for Field<M, V> {
    type Target = V::Target;
    type Related = V::Related;

    fn load<'a>(
        &'a self,
        session: &'a mut Session,
        entities: &'a [Tracked<M>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(session.load_references::<M, V::Target>(self.path_cow(), entities, options))
    }

    fn related(&self, session: &Session, entity: &Tracked<M>) -> Result<V::Related> {
        let found = session.referenced::<M, V::Target>(self.path(), entity)?;
        V::assemble(found).ok_or_else(|| Error::InvalidValue {
            path: self.path().to_owned(),
            message: format!("the reference field of {} does not hold one id", M::meta().name),
        })
    }
}

/// The reverse side of a reference: the entities of `C` whose field (of type `V`) refers to a
/// given entity of `V::Target` (one-to-many; many-to-many for an array of references). Made by
/// [`Field::reverse`], usually kept as a constant on the referenced model.
///
/// ```
/// use mongotic::prelude::*;
/// use mongotic::relation::{Ref, Reverse};
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "users")]
/// struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
///
/// #[allow(non_upper_case_globals)] // named like the field descriptors the derive makes
/// impl User {
///     pub const posts: Reverse<Post, Ref<User>> = Post::author.reverse();
/// }
///
/// #[derive(Debug, Serialize, Deserialize, Model)]
/// #[mongotic(collection = "posts")]
/// struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Ref<User> }
///
/// assert_eq!(User::posts.field().path(), "author");
/// ```
pub struct Reverse<C, V> {
    field: Field<C, V>,
}

impl<C, V> Reverse<C, V> {
    /// The reference field of `C` this relation follows backwards.
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::{Ref, Reverse};
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "tags")]
    /// # struct Tag { #[serde(rename = "_id")] #[mongotic(id)] id: String }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, tags: Vec<Ref<Tag>> }
    /// let tagged = Post::tags.reverse(); // a tag's posts
    /// assert_eq!(tagged.field().path(), "tags");
    /// ```
    pub fn field(&self) -> &Field<C, V> {
        &self.field
    }
}

impl<C, V> Clone for Reverse<C, V> {
    fn clone(&self) -> Self {
        Reverse { field: self.field.clone() }
    }
}

impl<C, V> fmt::Debug for Reverse<C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reverse({})", self.field.path())
    }
}

impl<C: Model, V: RefField> Relation<V::Target> for Reverse<C, V> {
    type Target = C;
    type Related = Vec<Tracked<C>>;

    fn load<'a>(
        &'a self,
        session: &'a mut Session,
        entities: &'a [Tracked<V::Target>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(session.load_referrers::<V::Target, C>(self.field.path_cow(), entities, options))
    }

    fn related(&self, session: &Session, entity: &Tracked<V::Target>) -> Result<Vec<Tracked<C>>> {
        session.referrers::<V::Target, C>(self.field.path(), entity)
    }
}

impl<C, V: RefField> Field<C, V> {
    /// The reverse side of this reference field: for an entity of the referenced model, the
    /// entities of `C` that refer to it. A `const fn`, so the relation can be a constant of
    /// the referenced model (`impl User { pub const posts: Reverse<Post, Ref<User>> =
    /// Post::author.reverse(); }`).
    ///
    /// ```
    /// # use mongotic::prelude::*;
    /// # use mongotic::relation::Ref;
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "users")]
    /// # struct User { #[serde(rename = "_id")] id: Option<ObjectId> }
    /// # #[derive(Debug, Serialize, Deserialize, Model)]
    /// # #[mongotic(collection = "posts")]
    /// # struct Post { #[serde(rename = "_id")] id: Option<ObjectId>, author: Ref<User> }
    /// let posts_of = Post::author.reverse();
    /// # let _ = posts_of;
    /// ```
    pub const fn reverse(self) -> Reverse<C, V> {
        Reverse { field: self }
    }
}

/// A relation kept by a select, to load for the entities it returns.
pub(crate) trait Load<M>: Send + Sync {
    fn run<'a>(
        &'a self,
        session: &'a mut Session,
        entities: &'a [Tracked<M>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>>;
}

/// Any [`Relation`] as a [`Load`].
pub(crate) struct LoadRelation<R, M> {
    pub(crate) relation: R,
    pub(crate) _model: PhantomData<fn() -> M>,
}

impl<M: Model, R: Relation<M>> Load<M> for LoadRelation<R, M> {
    fn run<'a>(
        &'a self,
        session: &'a mut Session,
        entities: &'a [Tracked<M>],
        options: &'a Options,
    ) -> BoxFuture<'a, Result<()>> {
        self.relation.load(session, entities, options)
    }
}

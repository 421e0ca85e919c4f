//! Running aggregations: grouped queries, totals and hand-written pipelines, each one
//! `aggregate` command through the statement's [`Io`](super::io::Io).

use bson::{Document, RawDocumentBuf};
use serde::de::DeserializeOwned;

use super::Session;
use super::execute::Executable;
use super::store::within_depth;
use crate::aggregate::{Aggregates, GroupBy, GroupKey, Pipeline, Totals};
use crate::options::Options;
use crate::{Error, Model, Result};

impl Session {
    /// Runs the aggregation `stages` over the collection of `M` and returns every result,
    /// checked for depth and read into documents.
    async fn run_pipeline<M: Model>(
        &mut self,
        stages: Vec<Document>,
        options: &Options,
    ) -> Result<(String, Vec<Document>)> {
        let io = self.io(M::meta(), "aggregate", options).await?;
        let namespace = io.namespace().to_owned();
        let rows = io.aggregate(stages).await?;
        let documents = rows.iter().map(|raw| decode_row(&namespace, raw)).collect::<Result<Vec<_>>>()?;
        Ok((namespace, documents))
    }
}

/// One result of an aggregation as a document, refused when it nests too deep to read.
fn decode_row(namespace: &str, raw: &RawDocumentBuf) -> Result<Document> {
    within_depth(namespace, raw)?;
    raw.to_document().map_err(|err| malformed(namespace, serde::de::Error::custom(err.to_string())))
}

fn malformed(namespace: &str, source: bson::de::Error) -> Error {
    Error::Deserialize { namespace: namespace.to_owned(), id: None, source }
}

impl<'s, M: Model, K: GroupKey<M>, A: Aggregates<M>> Executable<'s> for GroupBy<M, K, A> {
    type Output = Vec<(K::Output, A::Output)>;

    async fn execute_in(self, session: &'s mut Session) -> Result<Self::Output> {
        if self.selects_nothing() {
            return Ok(Vec::new());
        }
        let (namespace, results) = session.run_pipeline::<M>(self.compile()?, self.options()).await?;
        results
            .into_iter()
            .map(|mut row| {
                let id = row.remove("_id").unwrap_or(bson::Bson::Null);
                let key = self.key.decode(id).map_err(|source| malformed(&namespace, source))?;
                let values = self.aggs.decode(&row).map_err(|source| malformed(&namespace, source))?;
                Ok((key, values))
            })
            .collect()
    }
}

impl<'s, M: Model, A: Aggregates<M>> Executable<'s> for Totals<M, A> {
    type Output = A::Output;

    async fn execute_in(self, session: &'s mut Session) -> Result<A::Output> {
        if self.selects_nothing() {
            return Ok(self.aggs.empty());
        }
        let (namespace, results) = session.run_pipeline::<M>(self.compile()?, self.options()).await?;
        // `$group` over no documents gives no row; the totals of nothing are the empty values.
        match results.first() {
            Some(row) => self.aggs.decode(row).map_err(|source| malformed(&namespace, source)),
            None => Ok(self.aggs.empty()),
        }
    }
}

impl<'s, M: Model, T: DeserializeOwned + Send + 's> Executable<'s> for Pipeline<M, T> {
    type Output = Vec<T>;

    async fn execute_in(self, session: &'s mut Session) -> Result<Vec<T>> {
        let (stages, options) = self.into_parts();
        let (namespace, results) = session.run_pipeline::<M>(stages, &options).await?;
        results
            .into_iter()
            .map(|row| bson::from_document(row).map_err(|source| malformed(&namespace, source)))
            .collect()
    }
}

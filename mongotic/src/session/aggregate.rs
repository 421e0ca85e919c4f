//! Running aggregations: grouped queries, totals and hand-written pipelines, each one
//! `aggregate` command (in the session's transaction when one is open).

use bson::Document;
use futures::TryStreamExt;
use serde::de::DeserializeOwned;

use super::Session;
use super::execute::Executable;
use crate::aggregate::{Aggregates, GroupBy, GroupKey, Pipeline, Totals};
use crate::{Error, Model, Result, telemetry};

impl Session {
    /// Runs the aggregation `stages` over the collection of `M` and returns every result.
    async fn run_pipeline<M: Model>(&mut self, stages: Vec<Document>) -> Result<(String, Vec<Document>)> {
        let namespace = self.engine.namespace(M::meta())?;
        let namespace_text = namespace.to_string();
        let failed = |err| Error::from_driver(err, &namespace_text, None);
        let collection = self.engine.raw_collection(&namespace)?;
        let aggregate = collection.aggregate(stages);
        let span = telemetry::statement("aggregate", &namespace, self.txn.span());
        let client_session = self.txn.client_session()?;
        let rows = |rows: &Vec<Document>| rows.len() as u64;
        let results = telemetry::one_command(span, "db.response.returned_rows", rows, async {
            match client_session {
                Some(client_session) => {
                    let mut cursor = aggregate.session(&mut *client_session).await.map_err(failed)?;
                    cursor.stream(client_session).try_collect().await.map_err(failed)
                }
                None => aggregate.await.map_err(failed)?.try_collect().await.map_err(failed),
            }
        })
        .await?;
        Ok((namespace_text, results))
    }
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
        let (namespace, results) = session.run_pipeline::<M>(self.compile()?).await?;
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
        let (namespace, results) = session.run_pipeline::<M>(self.compile()?).await?;
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
        let (namespace, results) = session.run_pipeline::<M>(self.into_stages()).await?;
        results
            .into_iter()
            .map(|row| bson::from_document(row).map_err(|source| malformed(&namespace, source)))
            .collect()
    }
}

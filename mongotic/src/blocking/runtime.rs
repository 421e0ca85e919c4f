//! The runtime that drives the blocking API.

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Result};

/// A tokio runtime owned by a blocking engine and shared by everything made from it.
///
/// It has one worker thread, on which the driver runs its background tasks (connection pool,
/// server monitoring); calls block the caller's thread on it. It is shut down in the
/// background when the last user goes, which is safe from any context.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Runtime {
    inner: Arc<Owned>,
}

#[derive(Debug)]
struct Owned {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Runtime {
    pub(crate) fn new() -> Result<Runtime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mongotic-blocking")
            .enable_all()
            .build()
            .map_err(|err| Error::UnexpectedReply { message: format!("cannot start the blocking runtime: {err}") })?;
        Ok(Runtime { inner: Arc::new(Owned { runtime: Some(runtime) }) })
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime> {
        self.inner
            .runtime
            .as_ref()
            .ok_or_else(|| Error::UnexpectedReply { message: "the blocking runtime is shut down".into() })
    }

    /// Runs `future` to completion on this runtime, blocking the current thread.
    ///
    /// Refuses with [`Error::BlockingInAsyncContext`] when called from inside an async
    /// runtime, where blocking would panic in tokio or starve the caller's executor.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsyncContext);
        }
        Ok(self.runtime()?.block_on(future))
    }

    /// Runs `make` with this runtime as the current one, for constructors that spawn tasks.
    pub(crate) fn enter<T>(&self, make: impl FnOnce() -> T) -> Result<T> {
        let _guard = self.runtime()?.enter();
        Ok(make())
    }
}

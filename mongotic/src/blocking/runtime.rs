//! The runtime that drives the blocking API.

use std::future::Future;
use std::sync::Arc;

use crate::{Error, Result};

/// A tokio runtime owned by a blocking engine and shared by everything made from it.
///
/// Its one worker thread runs the driver's background tasks (connection pool, server
/// monitoring) and its I/O and timers. A blocking call polls the async operation on the
/// caller's thread, with this runtime entered so the operation's I/O is registered with it,
/// and parks the thread between wake-ups. Because the work never needs the caller's own
/// executor, this is safe from any thread: a plain thread, `spawn_blocking`, or even an async
/// task (where it blocks that task's thread until done, so the async API is the better
/// choice there). The runtime is shut down in the background when its last user goes, which
/// is also safe from any context.
///
/// It is `pub` only because [`IntoBlocking`](super::IntoBlocking)'s method takes it; no path
/// outside the crate names it, so that trait is closed to mongotic's own results.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Owned>,
}

#[derive(Debug)]
struct Owned {
    /// The runtime's handle, to enter it; valid as long as `runtime` is there.
    handle: tokio::runtime::Handle,
    /// Taken out only by `Drop`, to shut the runtime down without waiting for its tasks.
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
            .map_err(|err| Error::Runtime { message: format!("cannot start the blocking runtime: {err}") })?;
        Ok(Runtime { inner: Arc::new(Owned { handle: runtime.handle().clone(), runtime: Some(runtime) }) })
    }

    /// Runs `future` to completion, blocking the current thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = self.inner.handle.enter();
        futures::executor::block_on(future)
    }

    /// Runs `make` with this runtime as the current one, for constructors that spawn tasks.
    pub(crate) fn enter<T>(&self, make: impl FnOnce() -> T) -> T {
        let _entered = self.inner.handle.enter();
        make()
    }
}

//! The one retry policy of the session: how long a failed unit of work is tried again, and how
//! long to wait between attempts.
//!
//! Every loop that tries again (a transactional flush, a commit, [`Session::transaction`],
//! the blocking mirror's transaction) follows it:
//!
//! - **Bounded by time**: no attempt starts once the policy's limit has passed since the
//!   first one, nor a wait that would end past it.
//! - **Exponential backoff with jitter** between attempts of a whole transaction: the ceiling
//!   starts at 5 ms and grows 1.5 times per attempt up to 500 ms, the constants of the
//!   drivers' convenient transaction API. During a failover every client waits a little
//!   longer each time instead of hammering the new primary together.
//! - **Immediate** only where the drivers' specifications say so: a commit whose result is
//!   unknown is committed again at once (the server deduplicates it), and a write the
//!   retryable-writes rules allow is sent again once.
//!
//! The jitter is drawn from the upper half of the ceiling (`ceiling × [0.5, 1)`) rather than
//! the whole of it: clients still spread out, and until the ceiling reaches its maximum each
//! wait is longer than the one two attempts before it, so the backoff grows whatever the draw.
//!
//! [`Session::transaction`]: crate::Session::transaction

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// How long and how often mongotic tries a unit of work again after transient failures: the
/// transactional flush, the commit of an explicit transaction and
/// [`Session::transaction`](crate::Session::transaction). Set it on the engine with
/// [`Engine::with_retry_policy`](crate::Engine::with_retry_policy).
///
/// The default tries for up to two minutes (as the drivers' convenient transaction API does)
/// and waits between attempts with exponential backoff: a ceiling of 5 ms growing 1.5 times per
/// attempt up to 500 ms, with jitter.
///
/// ```
/// use std::time::Duration;
/// use mongotic::RetryPolicy;
///
/// let policy = RetryPolicy::default().with_limit(Duration::from_secs(2));
/// assert_eq!(policy.limit(), Duration::from_secs(2));
/// assert_eq!(RetryPolicy::default().limit(), Duration::from_secs(120));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    limit: Duration,
    initial: Duration,
    max: Duration,
}

/// The growth of the backoff ceiling per attempt, as a fraction (3/2).
const GROWTH: (u32, u32) = (3, 2);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            limit: Duration::from_secs(120),
            initial: Duration::from_millis(5),
            max: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// No retries at all: the first failure is returned.
    ///
    /// ```
    /// use mongotic::RetryPolicy;
    /// assert!(RetryPolicy::never().limit().is_zero());
    /// ```
    pub fn never() -> Self {
        RetryPolicy { limit: Duration::ZERO, ..RetryPolicy::default() }
    }

    /// The same policy, trying for at most `limit` from the first attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = mongotic::RetryPolicy::default().with_limit(Duration::from_millis(500));
    /// assert_eq!(policy.limit(), Duration::from_millis(500));
    /// ```
    pub fn with_limit(self, limit: Duration) -> Self {
        RetryPolicy { limit, ..self }
    }

    /// The same policy with another backoff: the ceiling of the first wait, and the largest
    /// ceiling it grows to.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = mongotic::RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// assert_eq!(policy.backoff(), (Duration::from_millis(10), Duration::from_secs(1)));
    /// ```
    pub fn with_backoff(self, initial: Duration, max: Duration) -> Self {
        RetryPolicy { initial, max: max.max(initial), ..self }
    }

    /// How long after the first attempt no new attempt starts.
    ///
    /// ```
    /// assert_eq!(mongotic::RetryPolicy::default().limit().as_secs(), 120);
    /// ```
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// The ceiling of the first wait, and the largest ceiling.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (initial, max) = mongotic::RetryPolicy::default().backoff();
    /// assert_eq!((initial, max), (Duration::from_millis(5), Duration::from_millis(500)));
    /// ```
    pub fn backoff(&self) -> (Duration, Duration) {
        (self.initial, self.max)
    }

    /// Starts a run of attempts now.
    pub(crate) fn start(&self) -> Attempts {
        Attempts {
            policy: *self,
            started: Instant::now(),
            waits: 0,
            // Random per run, so that clients that failed together do not wait alike.
            state: RandomState::new().hash_one(Instant::now()) | 1,
        }
    }

    /// The ceiling of the wait before retry number `retry` (1 for the first retry).
    fn ceiling(&self, retry: u32) -> Duration {
        let mut ceiling = self.initial;
        for _ in 1..retry {
            ceiling = ceiling * GROWTH.0 / GROWTH.1;
            if ceiling >= self.max {
                return self.max;
            }
        }
        ceiling.min(self.max)
    }
}

/// One run of attempts under a [`RetryPolicy`]: the time it started and the waits so far.
pub(crate) struct Attempts {
    policy: RetryPolicy,
    started: Instant,
    waits: u32,
    /// The jitter's generator (xorshift): no cryptographic need, and no dependency.
    state: u64,
}

impl Attempts {
    /// `true` while the limit has not passed: an immediate retry may start.
    pub(crate) fn time_left(&self) -> bool {
        self.started.elapsed() < self.policy.limit
    }

    /// The wait before the next attempt of a whole unit of work, or `None` when that attempt
    /// would start past the limit (then the caller stops and reports the last error).
    pub(crate) fn next_wait(&mut self) -> Option<Duration> {
        let retry = self.waits + 1;
        let ceiling = self.policy.ceiling(retry);
        let wait = ceiling / 2 + ceiling.mul_f64(self.jitter() / 2.0);
        if self.started.elapsed() + wait >= self.policy.limit {
            return None;
        }
        self.waits = retry;
        tracing::debug!(target: "mongotic::retry", retry, wait_us = wait.as_micros() as u64, "waiting before the next attempt");
        Some(wait)
    }

    /// Waits before the next attempt; `false` when there is no time for one.
    pub(crate) async fn wait(&mut self) -> bool {
        match self.next_wait() {
            Some(wait) => {
                tokio::time::sleep(wait).await;
                true
            }
            None => false,
        }
    }

    /// A number in `[0, 1)`.
    fn jitter(&mut self) -> f64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_grows_by_half_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<u128> = (1..=14).map(|retry| policy.ceiling(retry).as_micros()).collect();
        assert_eq!(ceilings[..4], [5_000, 7_500, 11_250, 16_875]);
        assert!(ceilings.windows(2).all(|pair| pair[1] >= pair[0]), "{ceilings:?}");
        assert_eq!(*ceilings.last().unwrap_or(&0), 500_000);
    }

    #[test]
    fn waits_lie_in_the_upper_half_of_their_ceiling_and_outgrow_the_one_two_before() {
        let policy = RetryPolicy::default();
        let mut attempts = policy.start();
        let waits: Vec<Duration> = std::iter::from_fn(|| attempts.next_wait()).take(12).collect();
        assert_eq!(waits.len(), 12);
        for (index, wait) in waits.iter().enumerate() {
            let ceiling = policy.ceiling(index as u32 + 1);
            assert!(*wait >= ceiling / 2 && *wait < ceiling, "{wait:?} against {ceiling:?}");
        }
        assert!(waits.windows(3).all(|w| w[2] > w[0]), "{waits:?}");
    }

    #[test]
    fn no_wait_ends_past_the_limit() {
        // The first wait is at least 2.5 ms: it would end past a 2 ms limit.
        assert!(RetryPolicy::default().with_limit(Duration::from_millis(2)).start().next_wait().is_none());
        let mut attempts = RetryPolicy::default().with_limit(Duration::from_millis(20)).start();
        assert!(std::iter::from_fn(|| attempts.next_wait()).all(|wait| wait < Duration::from_millis(20)));
        assert!(RetryPolicy::never().start().next_wait().is_none());
        assert!(!RetryPolicy::never().start().time_left());
    }
}

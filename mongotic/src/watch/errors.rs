//! Which change stream errors mean what: a lost history (the consumer must not go on as if
//! nothing happened), a failure worth trying again, or an error to report.

use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR};

use crate::Error;

/// `ChangeStreamHistoryLost`: the token is older than anything the oplog still has.
pub(crate) const HISTORY_LOST: i32 = 286;
/// `ChangeStreamFatalError`: the stream cannot resume from its token (older servers report a
/// lost history so).
pub(crate) const FATAL: i32 = 280;

/// The server's codes after which a change stream can resume (the drivers' list, with the
/// interruptions a failover or a restart causes) or a transaction be run again.
const RETRYABLE_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    43,    // CursorNotFound: the server forgot the cursor (it restarted)
    50,    // MaxTimeMSExpired
    63,    // StaleShardVersion
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    112,   // WriteConflict
    133,   // FailedToSatisfyReadPreference
    150,   // StaleEpoch
    189,   // PrimarySteppedDown
    234,   // RetryChangeStream
    251,   // NoSuchTransaction: the server restarted and forgot the transaction
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13388, // StaleConfig
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The error of a change stream of `namespace` (of the consumer `consumer`): a lost history is
/// [`Error::ChangeStreamHistoryLost`], the rest as any driver error.
pub(crate) fn stream_error(err: mongodb::error::Error, namespace: &str, consumer: Option<&str>) -> Error {
    if let ErrorKind::Command(command) = err.kind.as_ref()
        && matches!(command.code, HISTORY_LOST | FATAL)
    {
        return Error::ChangeStreamHistoryLost {
            namespace: namespace.to_owned(),
            consumer: consumer.map(str::to_owned),
            code: command.code,
            message: command.message.clone(),
        };
    }
    if err.contains_label("ResumableChangeStreamError") || err.contains_label(TRANSIENT_TRANSACTION_ERROR) {
        // Kept as the driver's error, so the label can still be asked about.
        return match Error::from_driver(err.clone(), namespace, None) {
            Error::Server { .. } => Error::Driver { source: err },
            other => other,
        };
    }
    Error::from_driver(err, namespace, None)
}

/// `true` when doing the same work again may succeed: the network, a failover or a restart, a
/// transaction to run again, a stream to resume.
pub(crate) fn is_retryable(err: &Error) -> bool {
    if err.is_transient() || err.is_connection() || err.is_timeout() {
        return true;
    }
    match err.cause() {
        Error::Server { code, .. } => RETRYABLE_CODES.contains(code),
        Error::Driver { source } | Error::Connection { source } => {
            source.contains_label("ResumableChangeStreamError")
                || source.contains_label(TRANSIENT_TRANSACTION_ERROR)
                || source.contains_label("RetryableWriteError")
                || matches!(source.kind.as_ref(), ErrorKind::Command(command) if RETRYABLE_CODES.contains(&command.code))
        }
        // The transaction was aborted by an earlier failure of the same batch.
        Error::TransactionAborted => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_interruptions_are_retryable_and_lost_history_is_not() {
        let server = |code| Error::Server {
            namespace: "app.users".into(),
            id: None,
            code,
            code_name: String::new(),
            message: String::new(),
        };
        assert!(is_retryable(&server(11600)));
        assert!(is_retryable(&server(251)));
        assert!(!is_retryable(&server(2)));
        let lost = Error::ChangeStreamHistoryLost {
            namespace: "app.users".into(),
            consumer: None,
            code: HISTORY_LOST,
            message: String::new(),
        };
        assert!(!is_retryable(&lost));
        assert_eq!(lost.server_code(), Some(HISTORY_LOST));
    }
}

//! The one place a failed proxy attempt is judged: which HTTP status and message its client gets,
//! which metric counts it, and whether it may go to Immich again.

use pingora::ErrorType::*;
use pingora::prelude::*;

/// The status and message for a proxying error (0 means the client is gone: answer nothing).
pub(super) fn classify(e: &Error) -> (u16, String) {
    match e.etype() {
        HTTPStatus(413) => (413, "request body larger than the configured limit".into()),
        HTTPStatus(code) => (*code, format!("request failed with status {code}")),
        ConnectTimedout | ReadTimedout | WriteTimedout if e.esource() == &ErrorSource::Upstream => {
            (504, "Immich did not answer in time".into())
        }
        ConnectionClosed | ReadError | WriteError if e.esource() == &ErrorSource::Upstream => {
            (502, format!("Immich closed the connection before answering: {}", short(e)))
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, format!("cannot reach Immich: {}", short(e))),
            ErrorSource::Downstream => match e.etype() {
                ReadError | WriteError | ConnectionClosed => (0, String::new()),
                _ => (400, format!("bad request: {}", short(e))),
            },
            ErrorSource::Internal | ErrorSource::Unset => match e.etype() {
                ConnectNoRoute | ConnectRefused | ConnectError => (502, format!("cannot reach Immich: {}", short(e))),
                ConnectTimedout => (504, "Immich did not answer in time".into()),
                _ => (500, "internal gateway error".into()),
            },
        },
    }
}

pub(super) fn upstream_error_kind(e: &Error) -> Option<&'static str> {
    Some(match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout => "timeout",
        ConnectRefused | ConnectError | TLSHandshakeFailure => "connect",
        ConnectNoRoute => "dns",
        ConnectionClosed if e.esource() == &ErrorSource::Upstream => "reset",
        _ if e.esource() == &ErrorSource::Upstream => "other",
        _ => return None,
    })
}

/// Settles whether a failed attempt goes again (see `Gateway::error_while_proxy`): only a
/// `replayable` request, and only after a failure Pingora or a failed write marks as a stale
/// pooled connection, and only when the connection was `reused`.
pub(super) fn decide_retry(e: &mut Error, reused: bool, replayable: bool) -> bool {
    if !replayable {
        e.set_retry(false);
        return false;
    }
    if e.etype() == &WriteError {
        e.retry = RetryType::ReusedOnly;
    }
    e.retry.decide_reuse(reused);
    e.retry()
}

pub(super) fn short(e: &Error) -> String {
    match &e.context {
        Some(context) => format!("{} ({context})", e.etype().as_str()),
        None => e.etype().as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_replayable_requests_on_stale_pooled_connections_go_again() {
        let stale_read = || {
            let mut e = Error::explain(ConnectionClosed, "while reading response headers");
            e.retry = RetryType::ReusedOnly;
            e
        };
        let failed_write = || Error::explain(WriteError, "while writing request headers");
        assert!(decide_retry(&mut stale_read(), true, true));
        assert!(decide_retry(&mut failed_write(), true, true), "a reset met at the first write");
        assert!(!decide_retry(&mut stale_read(), false, true), "a fresh connection is not stale");
        assert!(!decide_retry(&mut failed_write(), false, true));
        assert!(!decide_retry(&mut stale_read(), true, false), "a POST, a spent body or an answer under way");
        assert!(!decide_retry(&mut failed_write(), true, false));
        let mut timeout = Error::explain(ReadTimedout, "while reading response headers");
        assert!(!decide_retry(&mut timeout, true, true), "a slow Immich is not asked twice");
        let mut e = failed_write();
        decide_retry(&mut e, true, true);
        assert!(e.retry(), "the decision is left on the error for Pingora");
    }

    #[test]
    fn errors_map_to_statuses() {
        let timeout = Error::explain(ReadTimedout, "slow");
        let mut timeout = *timeout;
        timeout.esource = ErrorSource::Upstream;
        assert_eq!(classify(&timeout).0, 504);
        let mut refused = *Error::explain(ConnectRefused, "no");
        refused.esource = ErrorSource::Upstream;
        assert_eq!(classify(&refused).0, 502);
        assert_eq!(classify(&Error::explain(HTTPStatus(413), "big")).0, 413);
    }
}

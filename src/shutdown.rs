//! The process's graceful shutdown, as everything that runs long needs to know it: open streams
//! end with an error event that says where to resume, WebSockets close with 1001.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Cancelled when a graceful shutdown (SIGTERM) begins.
static SHUTTING_DOWN: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);
/// The same, for the check every request makes (one load, no lock).
static BEGUN: AtomicBool = AtomicBool::new(false);

/// Resolves when a graceful shutdown has begun: open streams then end with an error event that
/// says where to resume, within `[server] grace_period`, before Pingora stops the runtimes.
pub async fn begun() {
    SHUTTING_DOWN.cancelled().await
}

/// Whether a graceful shutdown has begun.
pub fn has_begun() -> bool {
    BEGUN.load(Ordering::Acquire)
}

/// Starts the graceful shutdown (the server does, on Pingora's shutdown broadcast).
pub fn begin() {
    BEGUN.store(true, Ordering::Release);
    SHUTTING_DOWN.cancel();
}

/// A future that resolves when a graceful shutdown has begun, to keep inside a stream's state.
pub fn watch() -> tokio_util::sync::WaitForCancellationFutureOwned {
    SHUTTING_DOWN.clone().cancelled_owned()
}

//! The kernel's share of a stream's buffering.
//!
//! Linux grows a connection's send buffer up to `net.ipv4.tcp_wmem`'s maximum (4 MiB by default),
//! so without a cap a client reading 100 KB/s would have megabytes of a stream queued in the
//! kernel before the gateway's write ever waited: the gateway would read that much further from
//! Immich, spend the CPU to re-frame it, and hold the machine's memory for it. `TCP_NOTSENT_LOWAT`
//! makes the socket refuse writes while more than a set number of bytes are still unsent, so a
//! slow client's pace reaches the gateway's writer — and from there Immich's socket — at once.

use pingora::proxy::Session;
use std::os::fd::BorrowedFd;

/// Caps the bytes of `session`'s response that may wait unsent in the kernel at `bytes` (an
/// HTTP/1 connection over TCP; HTTP/2 streams have their own flow-control windows). Best effort:
/// a socket that refuses the option keeps the kernel's default.
pub fn cap_unsent(session: &Session, bytes: usize) {
    let Some(stream) = session.as_downstream().stream() else {
        return;
    };
    // SAFETY: a Pingora stream's id is its socket's descriptor, which stays open while the
    // session that owns the stream is borrowed here; the borrow ends with this function.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.id()) };
    let lowat = u32::try_from(bytes).unwrap_or(u32::MAX);
    if let Err(e) = socket2::SockRef::from(&fd).set_tcp_notsent_lowat(lowat) {
        tracing::debug!(error = %e, "TCP_NOTSENT_LOWAT not set on a stream's connection");
    }
}

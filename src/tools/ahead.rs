//! The next Immich page of a photo stream, asked for while the current one is still being read.
//!
//! A stream whose client keeps up would otherwise spend each page boundary idle: the gateway asks
//! for page N+1 only when page N ends, then waits while Immich queries and renders it. Asking as
//! soon as page N's first photo is read lets Immich render N+1 while N streams out, so a page costs
//! the longer of the two instead of their sum (asking halfway, as before, left Immich's rendering
//! on the path: a 100,000-photo stream from the demo took ~15% longer). Only one page is ever
//! asked ahead, and only while the client keeps up, so a slow stream never makes Immich hold a
//! page it will not read for seconds.

use crate::immich::client::{ArrayReader, ImmichError};
use std::future::Future;
use std::pin::Pin;

/// A page's place in Immich's paging: its number and size.
pub type PageAt = (u64, u64);

/// A search page being opened: resolves once Immich's answer starts.
pub type Opening<'a> = Pin<Box<dyn Future<Output = Result<ArrayReader, ImmichError>> + Send + 'a>>;

/// At most one page asked for ahead of the one being read.
#[derive(Default)]
pub enum PageAhead<'a> {
    /// None asked for.
    #[default]
    Idle,
    /// Asked for, not answered yet.
    Opening(PageAt, Opening<'a>),
    /// Answered; its body is read when the stream gets to it. (Boxed: a reader is large, and
    /// most of the time no page is ahead.)
    Open(PageAt, Box<Result<ArrayReader, ImmichError>>),
}

impl<'a> PageAhead<'a> {
    /// Whether no page is asked for ahead.
    pub fn is_idle(&self) -> bool {
        matches!(self, PageAhead::Idle)
    }

    /// Asks for the page `at` ahead.
    pub fn ask(&mut self, at: PageAt, opening: Opening<'a>) {
        *self = PageAhead::Opening(at, opening);
    }

    /// Drives the page asked for until Immich answers. Never completes when none is out or once it
    /// was answered, so it can sit in a `select!` beside the current page's reads; dropping it
    /// keeps the request's progress.
    pub async fn drive(&mut self) {
        let PageAhead::Opening(at, opening) = self else {
            return std::future::pending().await;
        };
        let answer = opening.as_mut().await;
        *self = PageAhead::Open(*at, Box::new(answer));
    }

    /// The page `at`, if it is the one asked for ahead (answered or still on its way); any other
    /// page asked for is dropped, which cancels its request.
    pub fn take(&mut self, at: PageAt) -> Option<Opening<'a>> {
        match std::mem::take(self) {
            PageAhead::Opening(asked, opening) if asked == at => Some(opening),
            PageAhead::Open(asked, answer) if asked == at => Some(Box::pin(std::future::ready(*answer))),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    fn failing(message: &str) -> Opening<'static> {
        let message = message.to_string();
        Box::pin(async move { Err(ImmichError::NotFound(message)) })
    }

    fn error_of(opening: Opening<'_>) -> String {
        match opening.now_or_never().expect("ready") {
            Err(ImmichError::NotFound(m)) => m,
            _ => panic!("unexpected answer"),
        }
    }

    #[test]
    fn the_page_asked_for_is_handed_over_once_answered_or_still_on_its_way() {
        let mut ahead = PageAhead::default();
        assert!(ahead.is_idle());
        ahead.ask((3, 1000), failing("page 3"));
        assert!(!ahead.is_idle());
        assert_eq!(error_of(ahead.take((3, 1000)).expect("the page asked for")), "page 3");
        assert!(ahead.is_idle());

        ahead.ask((4, 1000), failing("page 4"));
        ahead.drive().now_or_never().expect("answered at once");
        assert!(matches!(ahead, PageAhead::Open((4, 1000), _)));
        assert!(ahead.drive().now_or_never().is_none(), "an answered page is driven no further");
        assert_eq!(error_of(ahead.take((4, 1000)).expect("the page answered")), "page 4");
    }

    #[test]
    fn another_page_is_not_handed_over_and_is_dropped() {
        let mut ahead = PageAhead::default();
        assert!(ahead.take((1, 100)).is_none());
        ahead.ask((5, 1000), failing("page 5"));
        assert!(ahead.take((5, 100)).is_none(), "same number, other size");
        assert!(ahead.is_idle());
        assert!(ahead.drive().now_or_never().is_none(), "nothing to drive");
    }
}

//! Response bodies: the whole body at once, a filler of any size made while it is sent (never
//! held in memory), and either of them trickled one byte at a time.
//!
//! The body is polled only when the connection can take more, so a huge filler goes out at the
//! client's pace; when the client hangs up, hyper stops polling and drops the body.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Filler bytes are taken from here, at most this many per frame.
static SPACES: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// The first byte of a filler: with the spaces after it, the start of a JSON array that never
/// ends (so a client that parses it fails only once it has read everything).
const FILLER_START: &[u8] = b"[";

/// What the body consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Whole(Bytes),
    /// `[` followed by spaces, this many bytes in all.
    Filler(u64),
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Whole(b) => b.len() as u64,
            Content::Filler(n) => *n,
        }
    }

    /// Up to `max` bytes starting at `offset` (which is below `len`).
    fn chunk(&self, offset: u64, max: usize) -> Bytes {
        let left = self.len() - offset;
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(max);
        match self {
            Content::Whole(b) => {
                let start = offset as usize;
                b.slice(start..start + n)
            }
            Content::Filler(_) if offset == 0 => Bytes::from_static(FILLER_START),
            Content::Filler(_) => Bytes::from_static(&SPACES[..n.min(SPACES.len())]),
        }
    }
}

/// A response body: `content`, sent at once or one byte per `trickle`.
pub struct Payload {
    content: Content,
    sent: u64,
    trickle: Option<Duration>,
    /// Trickling: the wait before the next byte.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Payload {
    pub fn new(content: Content, trickle: Option<Duration>) -> Payload {
        Payload {
            content,
            sent: 0,
            trickle,
            sleep: None,
        }
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.sent >= this.content.len() {
            return Poll::Ready(None);
        }
        let max = match this.trickle {
            Some(every) => {
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
                1
            }
            None => usize::MAX,
        };
        let chunk = this.content.chunk(this.sent, max);
        this.sent += chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.content.len()
    }

    /// Exact, so the answer carries a `Content-Length`.
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.content.len() - self.sent)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("content", &self.content)
            .field("sent", &self.sent)
            .field("trickle", &self.trickle)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    async fn frames(mut p: Payload) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut p).poll_frame(cx)).await {
            out.push(frame.expect("frame").into_data().expect("data"));
        }
        out
    }

    #[tokio::test]
    async fn filler_is_a_bracket_then_spaces_in_bounded_frames() {
        let n = 200_000u64;
        let p = Payload::new(Content::Filler(n), None);
        assert_eq!(p.size_hint().exact(), Some(n));
        let got = frames(p).await;
        assert_eq!(got[0], Bytes::from_static(b"["));
        assert!(got.iter().all(|f| f.len() <= SPACES.len()));
        assert_eq!(got.iter().map(|f| f.len() as u64).sum::<u64>(), n);
        assert!(got[1..].iter().all(|f| f.iter().all(|&b| b == b' ')));
    }

    #[tokio::test]
    async fn a_huge_filler_is_never_made_whole() {
        // 1 TiB: only the frames polled so far exist.
        let mut p = Payload::new(Content::Filler(1 << 40), None);
        for _ in 0..4 {
            let frame = poll_fn(|cx| Pin::new(&mut p).poll_frame(cx)).await;
            assert!(frame.is_some());
        }
        assert_eq!(p.size_hint().exact(), Some((1 << 40) - 1 - 3 * 65536));
    }

    #[tokio::test]
    async fn whole_body_in_one_frame_and_empty_body_ends_at_once() {
        assert_eq!(
            frames(Payload::new(
                Content::Whole(Bytes::from_static(b"{\"a\":1}")),
                None
            ))
            .await,
            [Bytes::from_static(b"{\"a\":1}")]
        );
        let empty = Payload::new(Content::Whole(Bytes::new()), None);
        assert!(empty.is_end_stream());
        assert!(frames(empty).await.is_empty());
    }

    #[tokio::test]
    async fn trickle_sends_one_byte_per_interval() {
        let start = std::time::Instant::now();
        let p = Payload::new(
            Content::Whole(Bytes::from_static(b"abc")),
            Some(Duration::from_millis(40)),
        );
        assert_eq!(p.size_hint().exact(), Some(3));
        let got = frames(p).await;
        assert_eq!(got, [&b"a"[..], b"b", b"c"]);
        assert!(start.elapsed() >= Duration::from_millis(120));

        let got = frames(Payload::new(
            Content::Filler(3),
            Some(Duration::from_millis(1)),
        ))
        .await;
        assert_eq!(got, [&b"["[..], b" ", b" "]);
    }
}

//! The TCP stream of one connection, which a fault rule can end with a reset (RST) instead of
//! an orderly close (FIN): hyper only ever drops a connection, so the choice is made on drop.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Held by the request handlers of a connection: arming it makes the connection's end a reset.
#[derive(Debug, Clone, Default)]
pub struct ResetSwitch(Arc<AtomicBool>);

impl ResetSwitch {
    /// The connection, once dropped, is reset rather than closed.
    pub fn arm(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_armed(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A `TcpStream` that is reset when dropped if its `ResetSwitch` was armed.
#[derive(Debug)]
pub struct ResettableStream {
    stream: TcpStream,
    reset: ResetSwitch,
}

impl ResettableStream {
    pub fn new(stream: TcpStream) -> (ResettableStream, ResetSwitch) {
        let reset = ResetSwitch::default();
        let wrapped = ResettableStream {
            stream,
            reset: reset.clone(),
        };
        (wrapped, reset)
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.is_armed() {
            // SO_LINGER 0: closing the socket then sends RST and discards what is unsent. If
            // it fails the close is an ordinary one, which still ends the connection.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

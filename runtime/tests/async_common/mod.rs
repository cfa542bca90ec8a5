//! Helpers for the tests of the async API: one side of a transfer over
//! any tokio byte stream (ours, or the kernel's `TcpStream`).
#![allow(dead_code)]

use std::io;
use std::time::Duration;

use fsm_runtime::AsyncStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

/// Sends `out` while reading until the peer's FIN, on the two halves of
/// `stream` at once, all within `limit`. Our FIN goes once `out` is
/// written and flushed (for our streams: acknowledged) if `close_first`,
/// else after the peer's FIN. Returns what came, and the stream whole
/// again.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    out: &[u8],
    close_first: bool,
    limit: Duration,
) -> io::Result<(Vec<u8>, S)> {
    let (mut r, mut w) = tokio::io::split(stream);
    let writer = async {
        w.write_all(out).await?;
        w.flush().await?;
        if close_first {
            w.shutdown().await?;
        }
        io::Result::Ok(())
    };
    let reader = async {
        let mut got = Vec::with_capacity(out.len());
        r.read_to_end(&mut got).await?;
        io::Result::Ok(got)
    };
    let both = async { tokio::try_join!(writer, reader) };
    let (_, got) = timeout(limit, both)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the transfer ran out of time"))??;
    let mut stream = r.unsplit(w);
    if !close_first {
        stream.shutdown().await?;
    }
    Ok((got, stream))
}

/// Waits at most `limit` until our connection is gone; returns its final
/// state and whether it passed TIME_WAIT.
pub async fn finish(stream: &AsyncStream, limit: Duration) -> io::Result<(String, bool)> {
    let end = timeout(limit, stream.wait_finished())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the connection did not end"))??;
    let waited = stream
        .trace()
        .iter()
        .any(|e| e.transition.to == "TIME_WAIT");
    Ok((end.to_string(), waited))
}

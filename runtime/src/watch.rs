//! Streaming an endpoint's events to a watcher as they happen: every event
//! raised on its connections' machines and every segment it sends or
//! receives, as the JSON lines of `docs/trace-json.md`, over a TCP
//! connection to the watcher (`fsm serve` listens for them on its watch
//! port and draws them on the figure).
//!
//! Watching never slows or stops the endpoint: lines go to a bounded
//! queue that a thread of their own writes out. While the watcher is not
//! there (not yet listening, gone, or slower than the endpoint) lines are
//! dropped and counted ([`Watch::dropped`]); the thread connects again at
//! most every [`RECONNECT`], and ends when the endpoint is gone.
//!
//! ```no_run
//! use fsm_runtime::watch::Watch;
//! use fsm_runtime::{Endpoint, Options};
//!
//! let options = Options {
//!     watch: Some(Watch::new("127.0.0.1:7879".parse().unwrap(), "server")),
//!     ..Options::default()
//! };
//! let endpoint = Endpoint::bind_with("127.0.0.1:7000", options)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{BufWriter, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::trace_json::{Direction, SegmentSummary};
use crate::wire::{Ipv4Packet, TcpPacket, ipv4};

/// Lines waiting for the writer; beyond them, lines are dropped.
pub const QUEUE: usize = 1 << 16;

/// How long the writer waits before trying the watcher again.
pub const RECONNECT: Duration = Duration::from_millis(250);

/// How long one connection attempt or one write may take.
const PATIENCE: Duration = Duration::from_secs(1);

/// A stream of an endpoint's events to a watcher at an address; set it in
/// [`Options::watch`](crate::Options::watch). Lines say they come from
/// `side` (`client`, `server`, a host's name: the watcher tells the
/// endpoints apart by it).
///
/// Dropping it (with the endpoint) waits for the lines queued so far to be
/// written out, or dropped if the watcher is away: a short program's lines
/// reach the watcher before it exits.
pub struct Watch {
    side: String,
    /// `None` once dropped.
    lines: Option<SyncSender<String>>,
    writer: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl Watch {
    /// A stream to the watcher at `addr`, its lines labelled `side`. The
    /// connection is made by the writer thread, which this starts: an
    /// absent watcher is not an error.
    pub fn new(addr: SocketAddr, side: &str) -> Watch {
        let (lines, queue) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = dropped.clone();
        // Without a thread, every line is dropped and counted.
        let writer = std::thread::Builder::new()
            .name("fsm-watch".into())
            .spawn(move || write_out(addr, queue, &counter))
            .ok();
        Watch {
            side: side.to_owned(),
            lines: Some(lines),
            writer,
            dropped,
        }
    }

    /// The label of this stream's lines.
    pub fn side(&self) -> &str {
        &self.side
    }

    /// How many lines were dropped so far: queued while the watcher was
    /// away, or beyond a full queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A counter of dropped lines that outlives the stream.
    pub fn dropped_counter(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// Queues one line (without its newline); never waits.
    pub fn send(&self, line: String) {
        let sent = self.lines.as_ref().map(|l| l.try_send(line));
        if !matches!(sent, Some(Ok(()))) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The writer ends when the queue is empty and closed.
        self.lines = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("side", &self.side)
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// The writer thread: until every sender is gone, writes the lines to
/// the watcher, connecting (again) when it can. Lines go out in batches
/// under load and at once when the endpoint is quiet: a batch is what
/// the queue holds, flushed when it is empty.
fn write_out(addr: SocketAddr, queue: Receiver<String>, dropped: &AtomicU64) {
    let mut out: Option<BufWriter<TcpStream>> = None;
    let mut last_try: Option<Instant> = None;
    while let Ok(first) = queue.recv() {
        if out.is_none() && last_try.is_none_or(|t| t.elapsed() >= RECONNECT) {
            last_try = Some(Instant::now());
            out = TcpStream::connect_timeout(&addr, PATIENCE)
                .and_then(|s| {
                    s.set_write_timeout(Some(PATIENCE))?;
                    s.set_nodelay(true)?;
                    Ok(BufWriter::with_capacity(64 << 10, s))
                })
                .ok();
        }
        let batch = std::iter::once(first).chain(queue.try_iter().take(QUEUE));
        let Some(w) = out.as_mut() else {
            dropped.fetch_add(batch.count() as u64, Ordering::Relaxed);
            continue;
        };
        let mut lines = 0u64;
        let mut written = Ok(());
        for line in batch {
            lines += 1;
            written = w
                .write_all(line.as_bytes())
                .and_then(|()| w.write_all(b"\n"));
            if written.is_err() {
                break;
            }
        }
        if written.is_ok() {
            written = w.flush();
        }
        if written.is_err() {
            // What the buffer held is lost with the connection.
            dropped.fetch_add(lines, Ordering::Relaxed);
            out = None;
        }
    }
    if let Some(mut w) = out {
        let _ = w.flush();
    }
}

/// What a line reports of an inner IPv4 packet carrying TCP, seen by the
/// side whose address is the source (`Out`) or the destination (`In`).
/// Checksums are not verified (an arriving packet is verified by the
/// host); `None` when it is not a TCP packet.
pub(crate) fn summarize(packet: &[u8], direction: Direction) -> Option<SegmentSummary> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    if ip.protocol() != ipv4::PROTOCOL_TCP {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    let src = SocketAddrV4::new(ip.src_addr(), tcp.src_port());
    let dst = SocketAddrV4::new(ip.dst_addr(), tcp.dst_port());
    let (local, remote) = match direction {
        Direction::Out => (src, dst),
        Direction::In => (dst, src),
    };
    Some(SegmentSummary {
        direction,
        local,
        remote,
        flags: tcp.flags(),
        seq: tcp.seq_number().0,
        ack: tcp.ack().then(|| tcp.ack_number().0),
        len: tcp.payload().len() as u32,
    })
}

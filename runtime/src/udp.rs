//! The endpoint's UDP socket, batched: receives take up to
//! [`quinn_udp::BATCH_SIZE`] datagrams per `recvmmsg`, coalesced by UDP GRO
//! where the kernel offers it; sends go out in runs of equal-sized
//! datagrams to one peer, one `sendmsg` per run with UDP GSO. quinn-udp
//! does the system calls; it falls back to one datagram per call where
//! the kernel lacks GSO or GRO.
//!
//! The socket is non-blocking. A send that would block keeps its run
//! ([`Outbox::stalled`]) until the socket is writable again, and the host
//! is not asked for more until then: the kernel's buffer is the
//! back-pressure.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};

/// Size of one receive buffer: a GRO run of up to 64 datagrams fits in an
/// IPv4 datagram's 64 KiB.
const RECV_BUF: usize = 65_536;

/// The most bytes one GSO run may hold.
const MAX_RUN: usize = 65_000;

/// A socket with quinn-udp's per-socket state.
pub struct Socket {
    io: mio::net::UdpSocket,
    state: UdpSocketState,
}

impl Socket {
    /// Wraps a bound socket, making it non-blocking.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<Socket> {
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        Ok(Socket {
            io: mio::net::UdpSocket::from_std(socket),
            state,
        })
    }

    /// The file descriptor, for registration with a poller.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd as _;
        self.io.as_raw_fd()
    }

    /// Datagrams one GSO send may carry.
    pub fn max_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    fn try_send(&self, t: &Transmit<'_>) -> io::Result<()> {
        self.state.try_send(UdpSockRef::from(&self.io), t)
    }
}

/// Buffers for batched receives, allocated once.
pub struct Inbox {
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    /// Messages filled by the last receive.
    filled: usize,
}

impl Inbox {
    /// Buffers for one batch.
    pub fn new() -> Inbox {
        Inbox {
            bufs: vec![vec![0; RECV_BUF]; quinn_udp::BATCH_SIZE],
            meta: vec![RecvMeta::default(); quinn_udp::BATCH_SIZE],
            filled: 0,
        }
    }

    /// Receives one batch without waiting; answers how many system-level
    /// messages came (0 when none was waiting). [`Self::datagrams`] then
    /// yields them.
    pub fn recv(&mut self, socket: &Socket) -> io::Result<usize> {
        self.filled = 0;
        let mut slices: Vec<IoSliceMut<'_>> =
            self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = match socket
            .state
            .recv(UdpSockRef::from(&socket.io), &mut slices, &mut self.meta)
        {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        self.filled = n;
        Ok(n)
    }

    /// How many system-level messages one receive takes at most.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// The datagrams of the last receive, GRO runs split at their stride.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta
            .iter()
            .zip(&self.bufs)
            .take(self.filled)
            .flat_map(|(meta, buf)| {
                let data = &buf[..meta.len.min(buf.len())];
                let stride = if meta.stride == 0 {
                    data.len().max(1)
                } else {
                    meta.stride
                };
                data.chunks(stride).map(move |d| (meta.addr, d))
            })
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox::new()
    }
}

/// A run of datagrams to one peer, all `segment` bytes but the last.
struct Run {
    to: SocketAddr,
    segment: usize,
    count: usize,
    /// The last datagram was shorter than `segment`: the run is closed.
    closed: bool,
    bytes: Vec<u8>,
}

/// Outgoing datagrams, gathered into GSO runs.
pub struct Outbox {
    run: Option<Run>,
    /// A run the socket refused for now (it would block).
    stalled: Option<Run>,
    spare: Vec<u8>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            run: None,
            stalled: None,
            spare: Vec::with_capacity(MAX_RUN),
        }
    }
}

impl Outbox {
    /// Whether a run waits for the socket to become writable.
    pub fn stalled(&self) -> bool {
        self.stalled.is_some()
    }

    /// Adds a datagram; sends the current run first if this one cannot
    /// join it. Call [`Self::flush`] when done adding.
    pub fn push(&mut self, socket: &Socket, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        let fits = self.run.as_ref().is_some_and(|r| {
            r.to == to
                && !r.closed
                && datagram.len() <= r.segment
                && r.count < socket.max_segments()
                && r.bytes.len() + datagram.len() <= MAX_RUN
        });
        if !fits {
            self.flush(socket)?;
            let mut bytes = std::mem::take(&mut self.spare);
            bytes.clear();
            self.run = Some(Run {
                to,
                segment: datagram.len(),
                count: 0,
                closed: false,
                bytes,
            });
        }
        let run = self.run.as_mut().expect("made above");
        run.bytes.extend_from_slice(datagram);
        run.count += 1;
        run.closed = datagram.len() < run.segment;
        Ok(())
    }

    /// Sends the current run. A run the socket cannot take now is kept
    /// and `WouldBlock` returned; [`Self::retry`] sends it later.
    pub fn flush(&mut self, socket: &Socket) -> io::Result<()> {
        if self.stalled.is_some() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        self.send(socket, run)
    }

    /// Sends a stalled run, if the socket takes it now.
    pub fn retry(&mut self, socket: &Socket) -> io::Result<()> {
        match self.stalled.take() {
            Some(run) => self.send(socket, run),
            None => Ok(()),
        }
    }

    fn send(&mut self, socket: &Socket, run: Run) -> io::Result<()> {
        let t = Transmit {
            destination: run.to,
            ecn: None,
            contents: &run.bytes,
            segment_size: (run.count > 1).then_some(run.segment),
            src_ip: None,
        };
        // Other errors lose the datagrams, as a network would; TCP resends.
        match socket.try_send(&t) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stalled = Some(run);
                return Err(e);
            }
            Err(_) if run.count > 1 => {
                // No GSO after all: one datagram per call.
                for d in run.bytes.chunks(run.segment) {
                    let one = Transmit {
                        destination: run.to,
                        ecn: None,
                        contents: d,
                        segment_size: None,
                        src_ip: None,
                    };
                    let _ = socket.try_send(&one);
                }
            }
            Err(_) => {}
        }
        self.spare = run.bytes;
        Ok(())
    }
}

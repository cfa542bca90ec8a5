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

/// Room after a run's last datagram: the largest IPv4 packet.
const DATAGRAM_ROOM: usize = 65_536;

/// A run of datagrams to one peer, all `segment` bytes but the last, in
/// `bytes[..used]`; `bytes` is always [`MAX_RUN`] + [`DATAGRAM_ROOM`] long,
/// so the next datagram can be written in place after the run.
struct Run {
    to: SocketAddr,
    segment: usize,
    count: usize,
    /// The last datagram was shorter than `segment`: the run is closed.
    closed: bool,
    used: usize,
    bytes: Vec<u8>,
}

impl Run {
    fn empty(bytes: Vec<u8>) -> Run {
        Run {
            to: SocketAddr::from(([0, 0, 0, 0], 0)),
            segment: 0,
            count: 0,
            closed: false,
            used: 0,
            bytes,
        }
    }

    fn buffer() -> Vec<u8> {
        vec![0; MAX_RUN + DATAGRAM_ROOM]
    }
}

/// Outgoing datagrams, gathered into GSO runs. A datagram is written in
/// place after the current run ([`Self::room`], [`Self::commit`]), so
/// that it is copied once, into the run, on its way out.
pub struct Outbox {
    run: Run,
    /// A run the socket refused for now (it would block).
    stalled: Option<Run>,
    spare: Option<Vec<u8>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            run: Run::empty(Run::buffer()),
            stalled: None,
            spare: None,
        }
    }
}

impl Outbox {
    /// Whether a run waits for the socket to become writable.
    pub fn stalled(&self) -> bool {
        self.stalled.is_some()
    }

    /// Where to write the next datagram (at least 65,536 bytes); then
    /// [`Self::commit`] it.
    pub fn room(&mut self) -> &mut [u8] {
        let used = self.run.used;
        &mut self.run.bytes[used..]
    }

    /// Adds the `len` bytes just written at the start of [`Self::room`] as
    /// a datagram to `to`; sends the current run first if this one cannot
    /// join it. Call [`Self::flush`] when done adding.
    pub fn commit(&mut self, socket: &Socket, to: SocketAddr, len: usize) -> io::Result<()> {
        let r = &self.run;
        let fits = r.to == to
            && !r.closed
            && len <= r.segment
            && r.count < socket.max_segments()
            && r.used + len <= MAX_RUN;
        let mut result = Ok(());
        if r.count > 0 && !fits {
            if self.stalled.is_some() {
                // No room for a third run: the datagram is lost, as on a
                // full network (TCP resends).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // The datagram sits after the run; the run goes (or stalls)
            // and the datagram moves to the front of the next one.
            let at = r.used;
            result = self.send_run(socket);
            match &self.stalled {
                Some(s) if result.is_err() => {
                    self.run.bytes[..len].copy_from_slice(&s.bytes[at..at + len]);
                }
                _ => self.run.bytes.copy_within(at..at + len, 0),
            }
        }
        let run = &mut self.run;
        if run.count == 0 {
            run.to = to;
            run.segment = len;
            run.closed = false;
        }
        run.used += len;
        run.count += 1;
        run.closed = len < run.segment;
        result
    }

    /// Adds a datagram by copying it in (see [`Self::commit`]).
    pub fn push(&mut self, socket: &Socket, to: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        self.room()[..datagram.len()].copy_from_slice(datagram);
        self.commit(socket, to, datagram.len())
    }

    /// Sends the current run. A run the socket cannot take now is kept
    /// and `WouldBlock` returned; [`Self::retry`] sends it later.
    pub fn flush(&mut self, socket: &Socket) -> io::Result<()> {
        if self.stalled.is_some() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if self.run.count == 0 {
            return Ok(());
        }
        self.send_run(socket)
    }

    /// Sends a stalled run, if the socket takes it now.
    pub fn retry(&mut self, socket: &Socket) -> io::Result<()> {
        match self.stalled.take() {
            Some(run) => match send(socket, &run) {
                Ok(()) => {
                    self.spare = Some(run.bytes);
                    Ok(())
                }
                Err(e) => {
                    self.stalled = Some(run);
                    Err(e)
                }
            },
            None => Ok(()),
        }
    }

    /// Sends the current run; one the socket refuses becomes the stalled
    /// run, and the current one starts afresh in another buffer.
    fn send_run(&mut self, socket: &Socket) -> io::Result<()> {
        match send(socket, &self.run) {
            Ok(()) => {
                self.run.count = 0;
                self.run.used = 0;
                Ok(())
            }
            Err(e) => {
                let bytes = self.spare.take().unwrap_or_else(Run::buffer);
                self.stalled = Some(std::mem::replace(&mut self.run, Run::empty(bytes)));
                Err(e)
            }
        }
    }
}

/// Sends one run: `Ok` once it is gone (or lost, as a network may lose
/// it: TCP resends), `WouldBlock` if the socket cannot take it now.
fn send(socket: &Socket, run: &Run) -> io::Result<()> {
    let contents = &run.bytes[..run.used];
    let t = Transmit {
        destination: run.to,
        ecn: None,
        contents,
        segment_size: (run.count > 1).then_some(run.segment),
        src_ip: None,
    };
    match socket.try_send(&t) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
        Err(_) if run.count > 1 => {
            // No GSO after all: one datagram per call.
            for d in contents.chunks(run.segment) {
                let one = Transmit {
                    destination: run.to,
                    ecn: None,
                    contents: d,
                    segment_size: None,
                    src_ip: None,
                };
                let _ = socket.try_send(&one);
            }
            Ok(())
        }
        // Other errors lose the datagrams, as a network would.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receiver() -> std::net::UdpSocket {
        let r = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        r.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        r
    }

    /// Datagrams written in place arrive whole and in order, whether they
    /// join a run, close it (shorter), or start one (another peer, or
    /// longer than the run's size).
    #[test]
    fn datagrams_written_in_place_arrive_whole_and_in_order() {
        let socket =
            Socket::new(std::net::UdpSocket::bind("127.0.0.1:0").expect("bind")).expect("socket");
        let (a, b) = (receiver(), receiver());
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let sizes = [1000, 1000, 1000, 500, 1000, 1200, 1200, 1200, 300];
        let mut sent = (Vec::new(), Vec::new());
        let mut outbox = Outbox::default();
        // A's run of runs, then B's, then both in turn (a run per datagram).
        let order = (0..sizes.len())
            .map(|i| (i, true))
            .chain((0..sizes.len()).map(|i| (i, false)))
            .chain((0..sizes.len()).flat_map(|i| [(i, true), (i, false)]));
        for (i, to_a_now) in order {
            let n = sizes[i];
            {
                let (to, list) = if to_a_now {
                    (to_a, &mut sent.0)
                } else {
                    (to_b, &mut sent.1)
                };
                let d: Vec<u8> = (0..n)
                    .map(|k| (k * 7 + i * 31 + list.len()) as u8)
                    .collect();
                // Half written in place, half copied in.
                if i % 2 == 0 {
                    outbox.room()[..n].copy_from_slice(&d);
                    let _ = outbox.commit(&socket, to, n);
                } else {
                    let _ = outbox.push(&socket, to, &d);
                }
                list.push(d);
            }
        }
        outbox.flush(&socket).expect("loopback takes it");
        assert!(!outbox.stalled());
        for (r, list) in [(&a, &sent.0), (&b, &sent.1)] {
            let mut buf = vec![0; 65_536];
            for d in list {
                let n = r.recv(&mut buf).expect("a datagram");
                assert_eq!(&buf[..n], &d[..]);
            }
        }
    }
}

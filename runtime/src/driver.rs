//! What the blocking and the async driver share: the socket's setup, the
//! [`Host`] with what surrounds it on the way out (fault injection, pcap,
//! the trace callbacks), and what a connection's status means to a read,
//! a write or a flush. No thread and no waiting here: each driver decides
//! how to wait.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cc::Congestion;
use crate::conn::{ConnError, Connection};
use crate::endpoint::{CcStepSink, Memory, Options, StepSink, TraceSink};
use crate::fault::FaultInjector;
use crate::host::{ConnId, Host, HostError, Status};
use crate::isn::IsnGenerator;
use crate::pcap::PcapWriter;
use crate::recovery::Recovery;
use crate::trace::TraceEntry;
use crate::trace_json::{self, Direction};
use crate::udp::{Inbox, Outbox, Socket};
use crate::vocab::Machine;
use crate::watch::Watch;

/// A host and what its datagrams pass through on their way out.
pub(crate) struct Core<M: Machine> {
    pub(crate) host: Host<M>,
    pub(crate) faults: FaultInjector<SocketAddr>,
    pub(crate) pcap: Option<PcapWriter<io::BufWriter<std::fs::File>>>,
    on_transition: Option<TraceSink>,
    on_step: Option<StepSink>,
    on_cc_transition: Option<TraceSink>,
    on_cc_step: Option<CcStepSink>,
    on_rec_transition: Option<TraceSink>,
    watch: Option<Watched<M>>,
    pub(crate) outbox: Outbox,
}

/// A [`Watch`] and the machines whose names and step marks its lines
/// carry.
struct Watched<M> {
    watch: Watch,
    machine: M,
    congestion: Congestion,
    recovery: Recovery,
}

/// A UDP socket bound to the first IPv4 address `addr` resolves to, with
/// buffers for bursts, made non-blocking and batched; and its address.
pub(crate) fn bind_socket(addr: impl ToSocketAddrs) -> io::Result<(Socket, SocketAddrV4)> {
    let socket = UdpSocket::bind(SocketAddr::V4(first_v4(addr)?))?;
    let local = match socket.local_addr()? {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => return Err(io::Error::other("bound to an IPv6 address")),
    };
    let sock = socket2::SockRef::from(&socket);
    // Bursts of a window's worth of segments must not overflow the
    // kernel's default buffers.
    let _ = sock.set_recv_buffer_size(4 << 20);
    let _ = sock.set_send_buffer_size(4 << 20);
    Ok((Socket::new(socket)?, local))
}

impl<M: Machine> Watched<M> {
    /// Queues the line of the segment in `packet`, if it is one.
    fn segment(&self, at: Duration, packet: &[u8], direction: Direction) {
        if let Some(segment) = crate::watch::summarize(packet, direction) {
            let spec = self.machine.spec();
            let line = trace_json::segment_line(spec, self.watch.side(), at, &segment);
            self.watch.send(line);
        }
    }
}

impl<M: Machine> Core<M> {
    /// A host driven by `machine` for a socket at `local`, set up as
    /// `options` say; and its inner address.
    pub(crate) fn new(
        machine: M,
        local: SocketAddrV4,
        options: Options,
    ) -> io::Result<(Self, Ipv4Addr)> {
        options
            .faults
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let inner = options.inner_addr.unwrap_or(*local.ip());
        let pcap = match &options.pcap {
            Some(path) => Some(PcapWriter::create(path)?),
            None => None,
        };
        let isn = match options.isn_key {
            Some(k) => IsnGenerator::new(k),
            None => IsnGenerator::random(),
        };
        let mut config = options.config;
        config.record_steps |=
            options.on_step.is_some() || options.on_cc_step.is_some() || options.watch.is_some();
        let watch = options.watch.map(|watch| Watched {
            watch,
            machine: machine.clone(),
            congestion: config.congestion.clone(),
            recovery: config.recovery.clone(),
        });
        let mut host = Host::with_machine(machine, inner, config, isn, Instant::now());
        host.prefer_port(local.port());
        let core = Core {
            host,
            faults: FaultInjector::new(options.faults),
            pcap,
            on_transition: options.on_transition,
            on_step: options.on_step,
            on_cc_transition: options.on_cc_transition,
            on_cc_step: options.on_cc_step,
            on_rec_transition: options.on_rec_transition,
            watch,
            outbox: Outbox::default(),
        };
        Ok((core, inner))
    }

    /// Hands the datagrams of the last receive to the host (and the pcap
    /// file).
    pub(crate) fn receive(&mut self, now: Instant, inbox: &Inbox) {
        for (from, bytes) in inbox.datagrams() {
            if let Some(p) = self.pcap.as_mut() {
                let _ = p.write(wall_clock(), bytes);
            }
            self.watch_segment(now, bytes, Direction::In);
            self.host.handle_datagram(now, from, bytes);
        }
    }

    /// Sends every datagram the host has ready (through the fault
    /// injector, if faults are on) in GSO runs, and passes on the trace.
    /// Stops asking the host while the socket is full.
    pub(crate) fn flush(&mut self, socket: &Socket, now: Instant) {
        self.pass_on_trace();
        if self.outbox.retry(socket).is_err() {
            return;
        }
        let faulty = !self.faults.config().is_noop();
        while !self.outbox.stalled() {
            // Written in place after the GSO run it joins.
            let room = self.outbox.room();
            let Some(t) = self.host.poll_transmit(now, room) else {
                break;
            };
            let datagram = &room[..t.len];
            if let Some(w) = &self.watch {
                let at = now.saturating_duration_since(self.host.epoch());
                w.segment(at, datagram, Direction::Out);
            }
            if faulty {
                self.faults.push_to(now, t.udp_peer, datagram);
                continue;
            }
            if let Some(p) = self.pcap.as_mut() {
                let _ = p.write(wall_clock(), datagram);
            }
            // A full socket keeps the datagram in the stalled run.
            let _ = self.outbox.commit(socket, t.udp_peer, t.len);
        }
        while !self.outbox.stalled() {
            let Some((peer, d)) = self.faults.pop_to(now) else {
                break;
            };
            self.send(socket, peer, &d);
        }
        let _ = self.outbox.flush(socket);
        // Transitions taken while emitting (none today) go out too.
        self.pass_on_trace();
    }

    /// Hands the transitions taken so far to the callback, before the
    /// segments they caused leave, so that callbacks see causes first.
    fn pass_on_trace(&mut self) {
        let sink = &mut self.on_transition;
        for entry in self.host.drain_trace() {
            if let Some(f) = sink.as_mut() {
                f(&entry);
            }
        }
        let sink = &mut self.on_step;
        for step in self.host.drain_steps() {
            if let Some(w) = &self.watch {
                w.watch
                    .send(trace_json::line(&w.machine, w.watch.side(), &step));
            }
            if let Some(f) = sink.as_mut() {
                f(&step);
            }
        }
        let sink = &mut self.on_cc_transition;
        for entry in self.host.drain_cc_trace() {
            if let Some(f) = sink.as_mut() {
                f(&entry);
            }
        }
        let sink = &mut self.on_cc_step;
        for step in self.host.drain_cc_steps() {
            if let Some(w) = &self.watch {
                let machine = w.congestion.machine();
                w.watch
                    .send(trace_json::cc_line(machine, w.watch.side(), &step));
            }
            if let Some(f) = sink.as_mut() {
                f(&step);
            }
        }
        let sink = &mut self.on_rec_transition;
        for entry in self.host.drain_rec_trace() {
            if let Some(f) = sink.as_mut() {
                f(&entry);
            }
        }
        // (No callback takes the recovery machines' steps yet.)
        for step in self.host.drain_rec_steps() {
            if let Some(w) = &self.watch {
                let machine = w.recovery.machine();
                w.watch
                    .send(trace_json::rec_line(machine, w.watch.side(), &step));
            }
        }
    }

    /// Streams a segment line of `packet` to the watcher, if any.
    fn watch_segment(&self, now: Instant, packet: &[u8], direction: Direction) {
        if let Some(w) = &self.watch {
            let at = now.saturating_duration_since(self.host.epoch());
            w.segment(at, packet, direction);
        }
    }

    fn send(&mut self, socket: &Socket, peer: SocketAddr, datagram: &[u8]) {
        if let Some(p) = self.pcap.as_mut() {
            let _ = p.write(wall_clock(), datagram);
        }
        // A full socket keeps the datagram in the stalled run.
        let _ = self.outbox.push(socket, peer, datagram);
    }

    /// The earliest time the host or the fault injector has work.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        [self.host.poll_timeout(), self.faults.next_release()]
            .into_iter()
            .flatten()
            .min()
    }

    /// How many connections the host holds and how much their buffers
    /// take.
    pub(crate) fn memory(&self) -> Memory {
        Memory {
            connections: self.host.connections(),
            buffered: self.host.buffer_memory(),
        }
    }

    /// The transitions connection `id` took, or those of its congestion
    /// machine (`cc`); empty if the config does not keep traces.
    pub(crate) fn trace(&self, id: ConnId, cc: bool) -> Vec<TraceEntry> {
        let trace = |c: &Connection<M>| match cc {
            false => c.trace().to_vec(),
            true => c.cc_trace().to_vec(),
        };
        self.host.connection(id).map(trace).unwrap_or_default()
    }

    /// One of connection `id`'s inner addresses, as `addr` picks it;
    /// [`io::ErrorKind::NotConnected`] if there is none.
    pub(crate) fn connection_addr(
        &self,
        id: ConnId,
        addr: impl FnOnce(&Connection<M>) -> Option<SocketAddrV4>,
    ) -> io::Result<SocketAddr> {
        self.host
            .connection(id)
            .and_then(addr)
            .map(SocketAddr::V4)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no such address"))
    }

    /// The error connection `id` reported, if any.
    pub(crate) fn error(&self, id: ConnId) -> Option<io::Error> {
        self.host.status(id).and_then(|s| s.error).map(conn_error)
    }

    /// The connection's status; [`io::ErrorKind::NotConnected`] once it
    /// is released.
    pub(crate) fn status(&self, id: ConnId) -> io::Result<Status> {
        self.host
            .status(id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection released"))
    }

    /// A read of connection `id` into `buf` (not empty), if it need not
    /// wait: bytes taken; `Ok(0)` only at the peer's FIN, every byte
    /// before it read; or the error.
    pub(crate) fn try_read(&mut self, id: ConnId, buf: &mut [u8]) -> Option<io::Result<usize>> {
        let st = match self.status(id) {
            Ok(st) => st,
            Err(e) => return Some(Err(e)),
        };
        if st.readable > 0 {
            return Some(self.host.recv(Instant::now(), id, buf).map_err(host_error));
        }
        if let Some(e) = st.error {
            return Some(Err(conn_error(e)));
        }
        if st.eof {
            return Some(Ok(0));
        }
        if st.finished {
            return Some(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed without the peer's FIN (the spec reported no error)",
            )));
        }
        None
    }

    /// A write of `buf` (not empty) to connection `id`, if it need not
    /// wait: bytes queued, or the error.
    pub(crate) fn try_write(&mut self, id: ConnId, buf: &[u8]) -> Option<io::Result<usize>> {
        let st = match self.status(id) {
            Ok(st) => st,
            Err(e) => return Some(Err(e)),
        };
        if let Some(e) = st.error {
            return Some(Err(conn_error(e)));
        }
        match self.host.send(Instant::now(), id, buf) {
            Ok(0) => None,
            Ok(n) => Some(Ok(n)),
            Err(HostError::Refused(r)) => Some(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("{} is not allowed in state {}", r.event, r.state),
            ))),
            Err(other) => Some(Err(host_error(other))),
        }
    }

    /// Whether everything written to connection `id` is acknowledged (or
    /// the connection is gone without an error); `None` while it is not.
    pub(crate) fn try_flushed(&self, id: ConnId) -> Option<io::Result<()>> {
        let st = match self.status(id) {
            Ok(st) => st,
            Err(e) => return Some(Err(e)),
        };
        if let Some(e) = st.error {
            return Some(Err(conn_error(e)));
        }
        (st.all_acked || st.finished).then_some(Ok(()))
    }

    /// Whether connection `id` opened, or the error that stopped it;
    /// `None` while the handshake goes on.
    pub(crate) fn try_opened(&self, id: ConnId) -> Option<io::Result<()>> {
        let st = match self.status(id) {
            Ok(st) => st,
            Err(e) => return Some(Err(e)),
        };
        if st.open {
            return Some(Ok(()));
        }
        if let Some(e) = st.error {
            return Some(Err(conn_error(e)));
        }
        st.finished.then(|| {
            Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection closed before it opened (the spec reported no error)",
            ))
        })
    }
}

/// The time of day, for pcap records.
pub(crate) fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// An inner address, which is IPv4.
pub(crate) fn inner_v4(addr: SocketAddr) -> io::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an IPv6 address: the runtime speaks IPv4 only",
        )),
    }
}

/// The first IPv4 address `addr` resolves to.
pub(crate) fn first_v4(addr: impl ToSocketAddrs) -> io::Result<SocketAddrV4> {
    first_of(addr.to_socket_addrs()?)
}

/// The first IPv4 address of `addrs`.
pub(crate) fn first_of(mut addrs: impl Iterator<Item = SocketAddr>) -> io::Result<SocketAddrV4> {
    addrs
        .find_map(|a| match a {
            SocketAddr::V4(a) => Some(a),
            SocketAddr::V6(_) => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "no IPv4 address: the runtime speaks IPv4 only",
            )
        })
}

/// A host call's error as an `io::Error`.
pub(crate) fn host_error(e: HostError) -> io::Error {
    let kind = match &e {
        HostError::PortInUse(_) => io::ErrorKind::AddrInUse,
        HostError::NotListening(_) | HostError::UnknownConnection => io::ErrorKind::NotConnected,
        HostError::NoFreePort => io::ErrorKind::AddrNotAvailable,
        HostError::Refused(_) => io::ErrorKind::NotConnected,
    };
    io::Error::new(kind, e.to_string())
}

/// What a connection reported as an `io::Error`.
pub(crate) fn conn_error(e: ConnError) -> io::Error {
    let (kind, text) = match e {
        ConnError::Reset => (io::ErrorKind::ConnectionReset, "connection reset by peer"),
        ConnError::Refused => (io::ErrorKind::ConnectionRefused, "connection refused"),
        ConnError::TimedOut => (io::ErrorKind::TimedOut, "connection timed out"),
        ConnError::Aborted => (io::ErrorKind::ConnectionAborted, "connection aborted"),
    };
    io::Error::new(kind, text)
}

//! The driver: a [`Host`] on one UDP socket, with a thread for arrivals and
//! timers, and blocking handles for applications ([`Listener`], [`Stream`]
//! with `std::io::Read` and `Write`).
//!
//! Every datagram carries one IPv4 packet. By default the inner addresses
//! are the outer UDP ones; an endpoint given another inner address (to be
//! bridged to a TUN device, say) keeps its UDP socket where it is.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cc::CcWords;
use crate::config::Config;
use crate::conn::CongestionView;
use crate::conn::ConnError;
use crate::fault::{FaultConfig, FaultInjector, FaultStats};
use crate::host::{ConnId, Counters, Host, HostError, Status};
use crate::isn::IsnGenerator;
use crate::pcap::PcapWriter;
use crate::trace::{StepRecord, TraceEntry};
use crate::udp::{Inbox, Outbox, Socket};
use crate::vocab::Machine;
use mio::unix::SourceFd;
use mio::{Interest, Token};

/// A callback that sees every transition of every connection.
pub type TraceSink = Box<dyn FnMut(&TraceEntry) + Send>;

/// A callback that sees every event raised on every connection (with
/// [`Config::record_steps`] on).
pub type StepSink = Box<dyn FnMut(&StepRecord) + Send>;

/// A callback that sees every event raised on every connection's
/// congestion machine.
pub type CcStepSink = Box<dyn FnMut(&StepRecord<CcWords>) + Send>;

/// How to set up an [`Endpoint`].
#[derive(Default)]
pub struct Options {
    /// Connection tunables.
    pub config: Config,
    /// The inner IPv4 address, if not the UDP socket's.
    pub inner_addr: Option<Ipv4Addr>,
    /// Fault injection on outgoing datagrams.
    pub faults: FaultConfig,
    /// Write every inner packet sent and received to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Called with every transition, in order.
    pub on_transition: Option<TraceSink>,
    /// Called with every event raised, in order; setting it turns on
    /// [`Config::record_steps`].
    pub on_step: Option<StepSink>,
    /// Called with every transition of the congestion machines, in order.
    pub on_cc_transition: Option<TraceSink>,
    /// Called with every event raised on the congestion machines, in
    /// order; setting it turns on [`Config::record_steps`].
    pub on_cc_step: Option<CcStepSink>,
    /// A fixed ISN key (for reproducible runs); random by default.
    pub isn_key: Option<[u8; 16]>,
}

impl Options {
    /// Default options with `config`.
    pub fn with_config(config: Config) -> Self {
        Options {
            config,
            ..Options::default()
        }
    }
}

struct Io<M: Machine> {
    host: Host<M>,
    faults: FaultInjector<SocketAddr>,
    pcap: Option<PcapWriter<io::BufWriter<std::fs::File>>>,
    on_transition: Option<TraceSink>,
    on_step: Option<StepSink>,
    on_cc_transition: Option<TraceSink>,
    on_cc_step: Option<CcStepSink>,
    /// Until when the I/O thread sleeps (`None`: no deadline).
    sleeping_until: Option<Instant>,
    buf: Vec<u8>,
    outbox: Outbox,
    /// Application threads waiting on `Shared::changed`: with none, a
    /// change wakes nobody and costs no system call.
    waiters: usize,
}

struct Shared<M: Machine> {
    io: Mutex<Io<M>>,
    changed: Condvar,
    socket: Socket,
    waker: mio::Waker,
    local: SocketAddrV4,
    inner: Ipv4Addr,
    running: AtomicBool,
}

/// Stops the I/O thread when the last handle goes.
struct Owner<M: Machine> {
    shared: Arc<Shared<M>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<M: Machine> Drop for Owner<M> {
    fn drop(&mut self) {
        self.shared.running.store(false, Ordering::SeqCst);
        self.shared.wake();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        if let Some(p) = self.shared.lock().pcap.as_mut() {
            let _ = p.flush();
        }
    }
}

/// A TCP endpoint on one UDP socket, serving many connections.
pub struct Endpoint<M: Machine = crate::tcp::Spec> {
    owner: Arc<Owner<M>>,
}

impl<M: Machine> Clone for Endpoint<M> {
    fn clone(&self) -> Self {
        Endpoint {
            owner: self.owner.clone(),
        }
    }
}

impl<M: Machine> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, Io<M>> {
        self.io.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the I/O thread.
    fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// After a call changed the host: send what is ready, pass on the
    /// trace, wake waiters and, if a deadline came earlier (or the socket
    /// is full and must be watched), the I/O thread.
    fn after_call(&self, mut io: MutexGuard<'_, Io<M>>) {
        let now = Instant::now();
        io.flush(&self.socket, now);
        let next = io.next_deadline();
        let wake =
            io.outbox.stalled() || next.is_some_and(|n| io.sleeping_until.is_none_or(|s| n < s));
        let waiters = io.waiters;
        drop(io);
        if waiters > 0 {
            self.changed.notify_all();
        }
        if wake {
            self.wake();
        }
    }
}

impl<M: Machine> Io<M> {
    /// Sends every datagram the host has ready (through the fault
    /// injector, if faults are on) in GSO runs, and passes on the trace.
    /// Stops asking the host while the socket is full.
    fn flush(&mut self, socket: &Socket, now: Instant) {
        self.pass_on_trace();
        if self.outbox.retry(socket).is_err() {
            return;
        }
        let mut buf = std::mem::take(&mut self.buf);
        let faulty = !self.faults.config().is_noop();
        while !self.outbox.stalled() {
            let Some(t) = self.host.poll_transmit(now, &mut buf) else {
                break;
            };
            if faulty {
                self.faults.push_to(now, t.udp_peer, &buf[..t.len]);
            } else {
                self.send(socket, t.udp_peer, &buf[..t.len]);
            }
        }
        self.buf = buf;
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
            if let Some(f) = sink.as_mut() {
                f(&step);
            }
        }
    }

    fn send(&mut self, socket: &Socket, peer: SocketAddr, datagram: &[u8]) {
        if let Some(p) = self.pcap.as_mut() {
            let _ = p.write(wall_clock(), datagram);
        }
        // A full socket keeps the datagram in the stalled run.
        let _ = self.outbox.push(socket, peer, datagram);
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        [self.host.poll_timeout(), self.faults.next_release()]
            .into_iter()
            .flatten()
            .min()
    }
}

fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// How long the I/O thread sleeps at most with no deadline, so that it
/// notices `running` going false even if a wake-up datagram is lost.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// Largest datagram: an IPv4 packet of 64 KiB.
const MAX_DATAGRAM: usize = 65_536;

/// Receive batches taken per wake-up before timers and sends get a turn.
const MAX_BATCHES: usize = 8;

impl Endpoint {
    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr`, with
    /// default options.
    pub fn bind(addr: SocketAddrV4) -> io::Result<Self> {
        Self::bind_with(addr, Options::default())
    }

    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr`.
    pub fn bind_with(addr: SocketAddrV4, options: Options) -> io::Result<Self> {
        Self::bind_machine(addr, options)
    }
}

impl<M: Machine + Default> Endpoint<M> {
    /// An endpoint driven by the spec compiled in as `M` (see
    /// [`machine!`](crate::machine)) on a UDP socket bound to `addr`.
    pub fn bind_machine(addr: SocketAddrV4, options: Options) -> io::Result<Self> {
        Self::bind_spec(M::default(), addr, options)
    }
}

impl<M: Machine> Endpoint<M> {
    /// An endpoint driven by `machine` (compiled in, or
    /// [loaded](crate::loaded::Loaded) from a spec file) on a UDP socket
    /// bound to `addr`.
    pub fn bind_spec(machine: M, addr: SocketAddrV4, options: Options) -> io::Result<Self> {
        options
            .faults
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let socket = UdpSocket::bind(addr)?;
        let local = match socket.local_addr()? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return Err(io::Error::other("bound to an IPv6 address")),
        };
        let sock = socket2::SockRef::from(&socket);
        // Bursts of a window's worth of segments must not overflow the
        // kernel's default buffers.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        let socket = Socket::new(socket)?;
        let poll = mio::Poll::new()?;
        let fd = socket.raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
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
        config.record_steps |= options.on_step.is_some() || options.on_cc_step.is_some();
        let mut host = Host::with_machine(machine, inner, config, isn, Instant::now());
        host.prefer_port(local.port());
        let shared = Arc::new(Shared {
            io: Mutex::new(Io {
                host,
                faults: FaultInjector::new(options.faults),
                pcap,
                on_transition: options.on_transition,
                on_step: options.on_step,
                on_cc_transition: options.on_cc_transition,
                on_cc_step: options.on_cc_step,
                sleeping_until: None,
                buf: vec![0; MAX_DATAGRAM],
                outbox: Outbox::default(),
                waiters: 0,
            }),
            changed: Condvar::new(),
            socket,
            waker,
            local,
            inner,
            running: AtomicBool::new(true),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tcp-io-{local}"))
            .spawn(move || io_loop(&thread_shared, poll))?;
        Ok(Endpoint {
            owner: Arc::new(Owner {
                shared,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    fn shared(&self) -> &Shared<M> {
        &self.owner.shared
    }

    /// Runs one call on the host, then sends what it made ready and wakes
    /// whoever waits.
    fn call<T>(
        &self,
        f: impl FnOnce(&mut Host<M>, Instant) -> Result<T, HostError>,
    ) -> io::Result<T> {
        let shared = self.shared();
        let mut io = shared.lock();
        let r = f(&mut io.host, Instant::now());
        shared.after_call(io);
        r.map_err(host_error)
    }

    /// The UDP socket's address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.shared().local
    }

    /// The inner IPv4 address connections use.
    pub fn inner_addr(&self) -> Ipv4Addr {
        self.shared().inner
    }

    /// A snapshot of the host's counters.
    pub fn counters(&self) -> Counters {
        self.shared().lock().host.counters().clone()
    }

    /// What the fault injector did so far.
    pub fn fault_stats(&self) -> FaultStats {
        *self.shared().lock().faults.stats()
    }

    /// Connections the host holds, and bytes their buffers hold.
    pub fn memory(&self) -> (usize, usize) {
        let io = self.shared().lock();
        (io.host.connections(), io.host.buffer_memory())
    }

    /// Listens on inner port `port`.
    pub fn listen(&self, port: u16, backlog: usize) -> io::Result<Listener<M>> {
        self.call(|host, now| host.listen(now, port, backlog))?;
        Ok(Listener {
            endpoint: self.clone(),
            port,
        })
    }

    /// Connects to `remote` (an inner address that is also the UDP peer),
    /// waiting at most `timeout` for the handshake.
    pub fn connect(&self, remote: SocketAddrV4, timeout: Duration) -> io::Result<Stream<M>> {
        self.connect_via(remote, SocketAddr::V4(remote), timeout)
    }

    /// Connects to inner address `remote`, sending the datagrams to
    /// `udp_peer` (a bridge to a TUN device, say).
    pub fn connect_via(
        &self,
        remote: SocketAddrV4,
        udp_peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream<M>> {
        let stream = self.start_connect(None, remote, udp_peer, timeout)?;
        stream.wait_open(Instant::now() + timeout + Duration::from_millis(100))?;
        Ok(stream)
    }

    /// Starts connecting and returns at once; the stream's calls wait for
    /// the handshake as they need. `local_port` picks our inner port
    /// (`None`: a free ephemeral one), as a simultaneous open needs.
    pub fn start_connect(
        &self,
        local_port: Option<u16>,
        remote: SocketAddrV4,
        udp_peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream<M>> {
        let id =
            self.call(|host, now| host.connect(now, local_port, remote, udp_peer, Some(timeout)))?;
        Ok(Stream::new(self.clone(), id))
    }

    /// A passive open for one remote socket: the stream waits in LISTEN for
    /// that peer; writing to it first turns it into an active open.
    pub fn listen_for(
        &self,
        port: u16,
        remote: SocketAddrV4,
        udp_peer: SocketAddr,
    ) -> io::Result<Stream<M>> {
        let id = self.call(|host, now| host.listen_for(now, port, remote, udp_peer))?;
        Ok(Stream::new(self.clone(), id))
    }

    /// Sends one raw datagram from this endpoint's socket (tests use it to
    /// play a hostile or broken peer).
    pub fn send_raw(&self, datagram: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.shared().socket.send_to(datagram, to)
    }
}

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// The I/O thread: waits for datagrams, a wake-up or the next deadline;
/// reads what arrived in batches, runs timers, sends what is ready.
fn io_loop<M: Machine>(shared: &Shared<M>, mut poll: mio::Poll) {
    let mut events = mio::Events::with_capacity(16);
    let mut inbox = Inbox::new();
    let fd = shared.socket.raw_fd();
    let mut watching_writable = false;
    while shared.running.load(Ordering::SeqCst) {
        let (wait, stalled) = {
            let mut io = shared.lock();
            let now = Instant::now();
            let next = io.next_deadline();
            io.sleeping_until = next;
            let wait = next.map_or(IDLE_POLL, |d| {
                d.saturating_duration_since(now).min(IDLE_POLL)
            });
            (wait, io.outbox.stalled())
        };
        if stalled != watching_writable {
            let interest = if stalled {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = poll
                .registry()
                .reregister(&mut SourceFd(&fd), SOCKET, interest);
            watching_writable = stalled;
        }
        if !wait.is_zero()
            && let Err(e) = poll.poll(&mut events, Some(wait))
            && e.kind() != io::ErrorKind::Interrupted
        {
            break;
        }
        // Read what has arrived, a bounded number of batches at a time; the
        // system call runs outside the lock, the datagrams are handled in
        // place under it.
        let mut io = None;
        for _ in 0..MAX_BATCHES {
            if !matches!(inbox.recv(&shared.socket), Ok(n) if n > 0) {
                break;
            }
            let guard = io.get_or_insert_with(|| shared.lock());
            let now = Instant::now();
            for (from, bytes) in inbox.datagrams() {
                if let Some(p) = guard.pcap.as_mut() {
                    let _ = p.write(wall_clock(), bytes);
                }
                guard.host.handle_datagram(now, from, bytes);
            }
        }
        let mut io = io.unwrap_or_else(|| shared.lock());
        let now = Instant::now();
        io.sleeping_until = None;
        io.host.handle_timeout(now);
        io.flush(&shared.socket, now);
        let waiters = io.waiters;
        drop(io);
        if waiters > 0 {
            shared.changed.notify_all();
        }
    }
}

fn host_error(e: HostError) -> io::Error {
    let kind = match &e {
        HostError::PortInUse(_) => io::ErrorKind::AddrInUse,
        HostError::NotListening(_) | HostError::UnknownConnection => io::ErrorKind::NotConnected,
        HostError::NoFreePort => io::ErrorKind::AddrNotAvailable,
        HostError::Refused(_) => io::ErrorKind::NotConnected,
    };
    io::Error::new(kind, e.to_string())
}

fn conn_error(e: ConnError) -> io::Error {
    let (kind, text) = match e {
        ConnError::Reset => (io::ErrorKind::ConnectionReset, "connection reset by peer"),
        ConnError::Refused => (io::ErrorKind::ConnectionRefused, "connection refused"),
        ConnError::TimedOut => (io::ErrorKind::TimedOut, "connection timed out"),
        ConnError::Aborted => (io::ErrorKind::ConnectionAborted, "connection aborted"),
    };
    io::Error::new(kind, text)
}

/// A listening port.
pub struct Listener<M: Machine = crate::tcp::Spec> {
    endpoint: Endpoint<M>,
    port: u16,
}

impl<M: Machine> Listener<M> {
    /// The inner port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for an open connection.
    pub fn accept(&self) -> io::Result<Stream<M>> {
        self.accept_until(None)
    }

    /// Waits at most `timeout` for an open connection.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<Stream<M>> {
        self.accept_until(Some(Instant::now() + timeout))
    }

    fn accept_until(&self, deadline: Option<Instant>) -> io::Result<Stream<M>> {
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        loop {
            if let Some(id) = io.host.accept(self.port).map_err(host_error)? {
                drop(io);
                return Ok(Stream::new(self.endpoint.clone(), id));
            }
            io = wait(shared, io, deadline)?;
        }
    }
}

impl<M: Machine> Drop for Listener<M> {
    fn drop(&mut self) {
        let _ = self
            .endpoint
            .call(|host, now| host.unlisten(now, self.port));
    }
}

/// Waits for a change, at most until `deadline`.
fn wait<'a, M: Machine>(
    shared: &'a Shared<M>,
    mut io: MutexGuard<'a, Io<M>>,
    deadline: Option<Instant>,
) -> io::Result<MutexGuard<'a, Io<M>>> {
    let left = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
            }
            Some(left)
        }
    };
    io.waiters += 1;
    let mut io = match left {
        None => shared.changed.wait(io).unwrap_or_else(|e| e.into_inner()),
        Some(left) => {
            shared
                .changed
                .wait_timeout(io, left)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    };
    io.waiters -= 1;
    Ok(io)
}

/// One connection, as a byte stream.
///
/// `&Stream` reads and writes too, so one thread can read while another
/// writes (as with `std::net::TcpStream`).
pub struct Stream<M: Machine = crate::tcp::Spec> {
    endpoint: Endpoint<M>,
    id: ConnId,
    read_timeout: Option<Duration>,
    write_closed: AtomicBool,
}

impl<M: Machine> Stream<M> {
    fn new(endpoint: Endpoint<M>, id: ConnId) -> Self {
        Stream {
            endpoint,
            id,
            read_timeout: None,
            write_closed: AtomicBool::new(false),
        }
    }

    fn status(&self, io: &Io<M>) -> io::Result<Status> {
        io.host
            .status(self.id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection released"))
    }

    /// Waits until the connection opens (enters a state of the spec's
    /// group `open`), or fails with the error the spec reported.
    pub fn wait_open(&self, deadline: Instant) -> io::Result<()> {
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        loop {
            let st = self.status(&io)?;
            if st.open {
                return Ok(());
            }
            if let Some(e) = st.error {
                return Err(conn_error(e));
            }
            if st.finished {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "connection closed before it opened (the spec reported no error)",
                ));
            }
            io = wait(shared, io, Some(deadline))?;
        }
    }

    /// The machine's current state.
    pub fn state(&self) -> Option<M::State> {
        let io = self.endpoint.shared().lock();
        io.host.connection(self.id).map(|c| c.state())
    }

    /// The transitions this connection took (empty if the config does not
    /// keep traces).
    pub fn trace(&self) -> Vec<TraceEntry> {
        let io = self.endpoint.shared().lock();
        io.host
            .connection(self.id)
            .map(|c| c.trace().to_vec())
            .unwrap_or_default()
    }

    /// The transitions this connection's congestion machine took (empty if
    /// the config does not keep traces).
    pub fn cc_trace(&self) -> Vec<TraceEntry> {
        let io = self.endpoint.shared().lock();
        io.host
            .connection(self.id)
            .map(|c| c.cc_trace().to_vec())
            .unwrap_or_default()
    }

    /// This connection's congestion window, while it has a TCB.
    pub fn congestion(&self) -> Option<CongestionView> {
        let io = self.endpoint.shared().lock();
        io.host.connection(self.id).and_then(|c| c.congestion())
    }

    /// Our inner address.
    pub fn local_addr(&self) -> Option<SocketAddrV4> {
        let io = self.endpoint.shared().lock();
        io.host.connection(self.id).map(|c| c.local())
    }

    /// The peer's inner address.
    pub fn peer_addr(&self) -> Option<SocketAddrV4> {
        let io = self.endpoint.shared().lock();
        io.host.connection(self.id).and_then(|c| c.remote())
    }

    /// Bounds how long `read` waits (`None`: forever).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Half-closes: `Write` (or `Both`) sends our FIN; `Read` does nothing
    /// on the wire.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Read || self.write_closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.endpoint.call(|host, now| host.close(now, self.id))
    }

    /// Closes our side and waits, at most `timeout`, until the connection
    /// is gone (after TIME_WAIT, if we end there). Returns the final
    /// state.
    pub fn close(self, timeout: Duration) -> io::Result<M::State> {
        self.shutdown(Shutdown::Write)?;
        self.wait_finished(timeout)
    }

    /// Waits, at most `timeout`, until the connection is gone; returns its
    /// final state.
    pub fn wait_finished(&self, timeout: Duration) -> io::Result<M::State> {
        let shared = self.endpoint.shared();
        let deadline = Instant::now() + timeout;
        let mut io = shared.lock();
        loop {
            let st = self.status(&io)?;
            if st.finished {
                let state = io.host.connection(self.id).map(|c| c.state());
                return state.ok_or_else(|| io::Error::other("connection released"));
            }
            io = wait(shared, io, Some(deadline))?;
        }
    }

    /// Aborts the connection (RST to the peer where the spec says so).
    pub fn abort(&self) -> io::Result<()> {
        self.write_closed.store(true, Ordering::SeqCst);
        self.endpoint.call(|host, now| host.abort(now, self.id))
    }

    /// The error the connection reported, if any.
    pub fn error(&self) -> Option<io::Error> {
        let io = self.endpoint.shared().lock();
        io.host
            .status(self.id)
            .and_then(|s| s.error)
            .map(conn_error)
    }
}

impl<M: Machine> Read for Stream<M> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl<M: Machine> Write for Stream<M> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl<M: Machine> Read for &Stream<M> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.endpoint.shared();
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        let mut io = shared.lock();
        loop {
            let st = self.status(&io)?;
            if st.readable > 0 {
                let n = io
                    .host
                    .recv(Instant::now(), self.id, buf)
                    .map_err(host_error)?;
                shared.after_call(io);
                return Ok(n);
            }
            if let Some(e) = st.error {
                return Err(conn_error(e));
            }
            if st.eof {
                return Ok(0);
            }
            if st.finished {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "connection closed without the peer's FIN (the spec reported no error)",
                ));
            }
            io = wait(shared, io, deadline)?;
        }
    }
}

impl<M: Machine> Write for &Stream<M> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        loop {
            let st = self.status(&io)?;
            if let Some(e) = st.error {
                return Err(conn_error(e));
            }
            let n = io
                .host
                .send(Instant::now(), self.id, buf)
                .map_err(|e| match e {
                    HostError::Refused(r) => io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!("{} is not allowed in state {}", r.event, r.state),
                    ),
                    other => host_error(other),
                })?;
            if n > 0 {
                shared.after_call(io);
                return Ok(n);
            }
            io = wait(shared, io, None)?;
        }
    }

    /// Waits until everything written is acknowledged.
    fn flush(&mut self) -> io::Result<()> {
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        loop {
            let st = self.status(&io)?;
            if let Some(e) = st.error {
                return Err(conn_error(e));
            }
            if st.all_acked || st.finished {
                return Ok(());
            }
            io = wait(shared, io, None)?;
        }
    }
}

impl<M: Machine> Drop for Stream<M> {
    /// Like a socket's close: our FIN goes out (if not yet), and the
    /// connection finishes in the background.
    fn drop(&mut self) {
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        if !self.write_closed.load(Ordering::SeqCst) {
            let _ = io.host.close(Instant::now(), self.id);
        }
        io.host.release(self.id);
        shared.after_call(io);
    }
}

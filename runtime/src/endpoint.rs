//! The driver: a [`Host`] on one UDP socket, and blocking handles for
//! applications shaped like `std::net`'s ([`Listener`] like `TcpListener`,
//! [`Stream`] like `TcpStream`, with `std::io::Read` and `Write`).
//!
//! Calls do their work on the calling thread: a write goes into the send
//! ring and out on the socket, a read comes out of the receive ring. A call
//! that has to wait *drives* the endpoint if no other thread does: it
//! waits in `poll` on the socket itself and handles what arrives and the
//! timers, so that the segment it waits for needs no hand-off from another
//! thread. Threads that wait while another drives are woken only by a
//! change of the connection (or listener) they wait on. The endpoint's I/O
//! thread drives when no application thread does, and stands back while
//! they do (and for a moment after), so arrivals and timers are handled
//! while applications are busy elsewhere.
//!
//! Every datagram carries one IPv4 packet. There are two kinds of address:
//! the *UDP* address of the endpoint's socket ([`Endpoint::local_addr`]),
//! where datagrams come and go, and the *inner* addresses in the IPv4 and
//! TCP headers those datagrams carry ([`Endpoint::inner_addr`],
//! [`Listener::local_addr`], [`Stream::local_addr`], [`Stream::peer_addr`]).
//! By default the inner address is the UDP one, and a listener's inner port
//! is whatever port the application picks (the examples use the UDP port);
//! an endpoint given another inner address (to be bridged to a TUN device,
//! say) keeps its UDP socket where it is.
//!
//! Every wait takes a [`Duration`]: the `timeout` of [`Endpoint::connect`],
//! [`Listener::accept_timeout`], [`Stream::wait_open`], [`Stream::close`]
//! and [`Stream::wait_finished`] fails with [`io::ErrorKind::TimedOut`];
//! a read or write timeout ([`Stream::set_read_timeout`],
//! [`Stream::set_write_timeout`]) fails with [`io::ErrorKind::WouldBlock`],
//! as `std::net::TcpStream`'s do on Linux.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cc::CcWords;
use crate::config::Config;
use crate::conn::CongestionView;
use crate::driver::{Core, bind_socket, first_v4, host_error, inner_v4};
use crate::fault::{FaultConfig, FaultStats};
use crate::host::{Change, ConnId, Counters, Host, HostError};
use crate::trace::{StepRecord, TraceEntry};
use crate::udp::{Inbox, Socket};
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
    /// Called with every transition of the recovery machines, in order.
    pub on_rec_transition: Option<TraceSink>,
    /// A fixed ISN key (for reproducible runs); random by default.
    pub isn_key: Option<[u8; 16]>,
    /// Stream every event of every machine and every segment to a
    /// watcher (`fsm serve`'s watch port), as JSON lines; setting it turns
    /// on [`Config::record_steps`].
    pub watch: Option<crate::watch::Watch>,
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
    /// The host, and what its datagrams pass through on the way out.
    core: Core<M>,
    /// Until when the driver sleeps in `poll` (`None`: nobody sleeps
    /// there now): a call that moves a deadline earlier wakes it.
    sleeping_until: Option<Instant>,
    /// Who holds the driver now (`None`: nobody). An application thread
    /// asleep in `poll` may be waiting for what any call did, so calls
    /// wake it; the I/O thread is woken only by an application that wants
    /// the driver.
    held_by: Option<Holder>,
    /// When an application thread last drove or asked to: the I/O thread
    /// stands back for [`DRIVER_GRACE`] after it (timers included: the
    /// application thread's next wait runs them).
    app_drove_at: Option<Instant>,
    /// Application threads waiting for a change while another thread
    /// drives, each woken only by a change of what it waits on.
    waiting: Vec<Waiter>,
}

/// Who holds the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    IoThread,
    Application,
}

/// What an application thread waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WaitOn {
    Connection(ConnId),
    Listener(u16),
}

struct Waiter {
    on: WaitOn,
    wake: Arc<Condvar>,
}

/// The right to wait in `poll` on the socket and handle what arrives:
/// held by the I/O thread, or by an application thread that has to wait
/// anyway, so that what it waits for is handled on its own thread.
struct Driver {
    poll: mio::Poll,
    events: mio::Events,
    inbox: Inbox,
    watching_writable: bool,
}

impl<M: Machine> std::ops::Deref for Io<M> {
    type Target = Core<M>;
    fn deref(&self) -> &Core<M> {
        &self.core
    }
}

impl<M: Machine> std::ops::DerefMut for Io<M> {
    fn deref_mut(&mut self) -> &mut Core<M> {
        &mut self.core
    }
}

struct Shared<M: Machine> {
    io: Mutex<Io<M>>,
    /// The I/O thread waits here while application threads drive.
    turn: Condvar,
    driver: Mutex<Driver>,
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
        self.shared.turn.notify_all();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        if let Some(p) = self.shared.lock().pcap.as_mut() {
            let _ = p.flush();
        }
    }
}

/// A TCP endpoint on one UDP socket, serving many connections.
///
/// Binding starts a thread that handles arrivals and timers while no
/// application thread waits (see the [module docs](self)); it stops when
/// the endpoint and every [`Listener`] and [`Stream`] made from it are
/// gone. Clones share the socket and the connections.
///
/// # Examples
///
/// A server and a client on loopback, each on its own UDP socket:
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use fsm_runtime::{Config, Endpoint, Options};
///
/// # fn main() -> std::io::Result<()> {
/// const WAIT: Duration = Duration::from_secs(5);
/// // A short MSL, so that TIME_WAIT does not hold the connection long.
/// let options = || Options::with_config(Config::loopback(Duration::from_millis(50)));
/// let server = Endpoint::bind_with("127.0.0.1:0", options())?;
/// let client = Endpoint::bind_with("127.0.0.1:0", options())?;
///
/// // By default the inner address is the UDP one; listen on its port too.
/// let addr = server.local_addr()?;
/// assert_eq!(addr.ip(), server.inner_addr());
/// let listener = server.listen(addr.port(), 8)?;
///
/// let echo = std::thread::spawn(move || -> std::io::Result<()> {
///     let (mut stream, _peer) = listener.accept_timeout(WAIT)?;
///     stream.set_read_timeout(Some(WAIT))?;
///     let mut request = Vec::new();
///     stream.read_to_end(&mut request)?;
///     stream.write_all(&request)?;
///     stream.close(WAIT)?;
///     Ok(())
/// });
///
/// let mut stream = client.connect(addr, WAIT)?;
/// stream.set_read_timeout(Some(WAIT))?;
/// stream.write_all(b"hello")?;
/// stream.shutdown(std::net::Shutdown::Write)?;
/// let mut reply = Vec::new();
/// stream.read_to_end(&mut reply)?;
/// assert_eq!(reply, b"hello");
/// echo.join().unwrap()?;
/// assert_eq!(stream.wait_finished(WAIT)?.to_string(), "CLOSED");
/// // A finished connection is released with its stream.
/// drop(stream);
/// assert_eq!(client.memory().connections, 0);
/// # Ok(())
/// # }
/// ```
pub struct Endpoint<M: Machine = crate::tcp::Spec> {
    owner: Arc<Owner<M>>,
}

impl<M: Machine> std::fmt::Debug for Endpoint<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_addr", &self.shared().local)
            .field("inner_addr", &self.shared().inner)
            .finish_non_exhaustive()
    }
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

    /// The driver, if no other thread holds it (a thread that panicked
    /// while driving left it as it was: still usable).
    fn try_driver(&self) -> Option<MutexGuard<'_, Driver>> {
        match self.driver.try_lock() {
            Ok(d) => Some(d),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Wakes the I/O thread.
    fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// After a call changed the host: send what is ready, pass on the
    /// trace, wake waiters and, if a deadline came earlier (or the socket
    /// is full and must be watched, or an application thread drives and
    /// may have been waiting for this), the driver.
    fn after_call(&self, mut io: MutexGuard<'_, Io<M>>) {
        let now = Instant::now();
        io.flush(&self.socket, now);
        let next = io.next_deadline();
        let earlier = next.is_some_and(|n| io.sleeping_until.is_some_and(|u| n < u));
        let wake = io.outbox.stalled()
            || (io.sleeping_until.is_some() && io.held_by == Some(Holder::Application))
            || earlier;
        io.wake_changed();
        drop(io);
        if wake {
            self.wake();
        }
    }

    /// One turn of the driver: waits in `poll` for datagrams, a wake-up,
    /// the host's next deadline or `until`, whichever comes first; reads
    /// what arrived in batches, runs the timers and sends what is ready.
    /// Whoever calls it holds `driver`.
    fn drive(&self, driver: &mut Driver, until: Option<Instant>) {
        let (wait, stalled) = {
            let mut io = self.lock();
            let now = Instant::now();
            let wake_at = [io.next_deadline(), until].into_iter().flatten().min();
            let wait = wake_at.map_or(IDLE_POLL, |d| {
                d.saturating_duration_since(now).min(IDLE_POLL)
            });
            io.sleeping_until = Some(now + wait);
            (wait, io.outbox.stalled())
        };
        if stalled != driver.watching_writable {
            let interest = if stalled {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let fd = self.socket.raw_fd();
            let _ = driver
                .poll
                .registry()
                .reregister(&mut SourceFd(&fd), SOCKET, interest);
            driver.watching_writable = stalled;
        }
        // With the socket full, what is due cannot go out before it drains:
        // wait for that (a little at least) rather than spin.
        let wait = if stalled {
            wait.max(STALLED_POLL)
        } else {
            wait
        };
        if !wait.is_zero() {
            let _ = driver.poll.poll(&mut driver.events, Some(wait));
        }
        // Read what has arrived, a bounded number of batches at a time; the
        // system call runs outside the lock, the datagrams are handled in
        // place under it.
        let mut io = None;
        for _ in 0..MAX_BATCHES {
            let n = match driver.inbox.recv(&self.socket) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let guard = io.get_or_insert_with(|| self.lock());
            guard.receive(Instant::now(), &driver.inbox);
            if n < driver.inbox.capacity() {
                // The socket had no more: the next arrival is a new event
                // for `poll`, so asking again would only cost a call.
                break;
            }
        }
        let mut io = io.unwrap_or_else(|| self.lock());
        let now = Instant::now();
        io.sleeping_until = None;
        io.host.handle_timeout(now);
        io.flush(&self.socket, now);
        io.wake_changed();
    }
}

impl<M: Machine> Io<M> {
    /// Wakes the application threads whose connection or listener changed.
    fn wake_changed(&mut self) {
        let Io { core, waiting, .. } = self;
        for change in core.host.drain_changes() {
            for w in waiting.iter() {
                let hit = match (change, w.on) {
                    (Change::Connection(a), WaitOn::Connection(b)) => a == b,
                    (Change::Listener(a), WaitOn::Listener(b)) => a == b,
                    _ => false,
                };
                if hit {
                    w.wake.notify_one();
                }
            }
        }
    }

    /// Wakes one waiting application thread, if any, to take the driver
    /// that was just let go.
    fn pass_driver(&self) {
        if let Some(w) = self.waiting.first() {
            w.wake.notify_one();
        }
    }
}

/// How long the I/O thread sleeps at most with no deadline, so that it
/// notices `running` going false even if a wake-up datagram is lost.
const IDLE_POLL: Duration = Duration::from_millis(250);

/// The shortest wait in `poll` while the socket is full.
const STALLED_POLL: Duration = Duration::from_millis(1);

/// Receive batches taken per wake-up before timers and sends get a turn.
const MAX_BATCHES: usize = 8;

impl Endpoint {
    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr` (an IPv4
    /// address; port 0 picks a free one), with default options.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        Self::bind_with(addr, Options::default())
    }

    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr`.
    pub fn bind_with(addr: impl ToSocketAddrs, options: Options) -> io::Result<Self> {
        Self::bind_machine(addr, options)
    }
}

impl<M: Machine + Default> Endpoint<M> {
    /// An endpoint driven by the spec compiled in as `M` (see
    /// [`machine!`](crate::machine)) on a UDP socket bound to `addr`.
    pub fn bind_machine(addr: impl ToSocketAddrs, options: Options) -> io::Result<Self> {
        Self::bind_spec(M::default(), addr, options)
    }
}

impl<M: Machine> Endpoint<M> {
    /// An endpoint driven by `machine` (compiled in, or loaded from a spec
    /// file with the `load` feature) on a UDP socket bound to `addr`, the
    /// first IPv4 address it resolves to.
    pub fn bind_spec(machine: M, addr: impl ToSocketAddrs, options: Options) -> io::Result<Self> {
        let (socket, local) = bind_socket(addr)?;
        let poll = mio::Poll::new()?;
        let fd = socket.raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)?;
        let waker = mio::Waker::new(poll.registry(), WAKER)?;
        let (core, inner) = Core::new(machine, local, options)?;
        let shared = Arc::new(Shared {
            io: Mutex::new(Io {
                core,
                sleeping_until: None,
                held_by: None,
                app_drove_at: None,
                waiting: Vec::new(),
            }),
            turn: Condvar::new(),
            driver: Mutex::new(Driver {
                poll,
                events: mio::Events::with_capacity(16),
                inbox: Inbox::new(),
                watching_writable: false,
            }),
            socket,
            waker,
            local,
            inner,
            running: AtomicBool::new(true),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tcp-io-{local}"))
            .spawn(move || io_loop(&thread_shared))?;
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

    /// The UDP socket's address: where datagrams for this endpoint go,
    /// and the address to [`connect`](Self::connect) to when the inner
    /// address is the UDP one (the default). Always IPv4.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.shared().local))
    }

    /// The inner IPv4 address: the one in the IPv4 headers of this
    /// endpoint's packets, which its connections' [`Stream::local_addr`]
    /// and [`Listener::local_addr`] carry. The UDP socket's address unless
    /// [`Options::inner_addr`] says otherwise.
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

    /// How many connections the host holds and how much their buffers
    /// take.
    pub fn memory(&self) -> Memory {
        self.shared().lock().memory()
    }

    /// Listens on inner port `port`, keeping at most `backlog` opened
    /// connections not yet accepted.
    pub fn listen(&self, port: u16, backlog: usize) -> io::Result<Listener<M>> {
        self.call(|host, now| host.listen(now, port, backlog))?;
        Ok(Listener {
            endpoint: self.clone(),
            port,
        })
    }

    /// Connects to `addr` (its first IPv4 address: an inner address that
    /// is also the UDP peer's, as another endpoint's
    /// [`local_addr`](Self::local_addr) is by default), waiting at most
    /// `timeout` for the handshake. `timeout` is also the spec's user
    /// timeout for the handshake; running out fails with
    /// [`io::ErrorKind::TimedOut`].
    pub fn connect(&self, addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Stream<M>> {
        let remote = SocketAddr::V4(first_v4(addr)?);
        self.connect_via(remote, remote, timeout)
    }

    /// Connects to inner address `remote` (IPv4), sending the datagrams to
    /// `udp_peer` (a bridge to a TUN device, say); otherwise as
    /// [`connect`](Self::connect).
    pub fn connect_via(
        &self,
        remote: SocketAddr,
        udp_peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream<M>> {
        let stream = self.start_connect(None, remote, udp_peer, timeout)?;
        stream.wait_open(timeout + Duration::from_millis(100))?;
        Ok(stream)
    }

    /// Starts connecting and returns at once; the stream's calls wait for
    /// the handshake as they need (or [`Stream::wait_open`] does).
    /// `local_port` picks our inner port (`None`: a free ephemeral one), as
    /// a simultaneous open needs; `timeout` is the handshake's user
    /// timeout.
    pub fn start_connect(
        &self,
        local_port: Option<u16>,
        remote: SocketAddr,
        udp_peer: SocketAddr,
        timeout: Duration,
    ) -> io::Result<Stream<M>> {
        let remote = inner_v4(remote)?;
        let id =
            self.call(|host, now| host.connect(now, local_port, remote, udp_peer, Some(timeout)))?;
        Ok(Stream::new(self.clone(), id))
    }

    /// A passive open for one remote socket: the stream waits in LISTEN on
    /// inner port `port` for inner address `remote` (IPv4), whose
    /// datagrams come from `udp_peer`; writing to it first turns it into an
    /// active open.
    pub fn listen_for(
        &self,
        port: u16,
        remote: SocketAddr,
        udp_peer: SocketAddr,
    ) -> io::Result<Stream<M>> {
        let remote = inner_v4(remote)?;
        let id = self.call(|host, now| host.listen_for(now, port, remote, udp_peer))?;
        Ok(Stream::new(self.clone(), id))
    }
}

/// What an endpoint's connections hold, from [`Endpoint::memory`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Connections the host holds: open, closing, in TIME_WAIT, or opened
    /// by a listener and not yet accepted.
    pub connections: usize,
    /// Bytes allocated by those connections' send and receive buffers.
    pub buffered: usize,
}

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// How long the I/O thread stands back after an application thread drove
/// (or asked to): a thread that reads or writes in a loop waits again
/// within microseconds, and should find the driver free.
const DRIVER_GRACE: Duration = Duration::from_millis(2);

/// The I/O thread: drives when no application thread does, so that
/// arrivals and timers are handled while applications are busy elsewhere
/// or have no call waiting; stands back while they drive.
fn io_loop<M: Machine>(shared: &Shared<M>) {
    while let Some(mut driver) = take_turn(shared) {
        shared.drive(&mut driver, None);
        shared.lock().held_by = None;
        drop(driver);
        shared.lock().pass_driver();
    }
}

/// Waits for the I/O thread's turn to drive: stands back while an
/// application thread drives, and for [`DRIVER_GRACE`] after one did;
/// `None` once the endpoint stops.
fn take_turn<M: Machine>(shared: &Shared<M>) -> Option<MutexGuard<'_, Driver>> {
    let mut io = shared.lock();
    loop {
        if !shared.running.load(Ordering::SeqCst) {
            return None;
        }
        let now = Instant::now();
        let grace_end = io.app_drove_at.map(|t| t + DRIVER_GRACE);
        // Taken under the state's lock, as application threads do, so that
        // one that finds the driver taken knows whether to wake us.
        let until = match shared.try_driver() {
            Some(driver) if grace_end.is_none_or(|g| g <= now) => {
                io.held_by = Some(Holder::IoThread);
                return Some(driver);
            }
            Some(_) => grace_end.unwrap_or(now),
            // An application thread drives, and runs the timers too; look
            // again a grace later, as nothing tells us when it stops.
            None => now + DRIVER_GRACE,
        };
        io = shared
            .turn
            .wait_timeout(io, until.saturating_duration_since(now))
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A listening port, from [`Endpoint::listen`]; like
/// `std::net::TcpListener`. Dropping it stops listening.
///
/// # Examples
///
/// Serving two clients one after the other, then waiting in vain for a
/// third:
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::time::Duration;
/// use fsm_runtime::{Config, Endpoint, Options};
///
/// # fn main() -> std::io::Result<()> {
/// const WAIT: Duration = Duration::from_secs(5);
/// let options = || Options::with_config(Config::loopback(Duration::from_millis(50)));
/// let server = Endpoint::bind_with("127.0.0.1:0", options())?;
/// // On the UDP socket's port, the listener's inner address is the
/// // socket's address too, which `connect` sends to.
/// let listener = server.listen(server.local_addr()?.port(), 8)?;
/// let addr = listener.local_addr()?;
/// assert_eq!(addr, server.local_addr()?);
///
/// let clients = std::thread::spawn(move || -> std::io::Result<()> {
///     let client = Endpoint::bind_with("127.0.0.1:0", options())?;
///     for name in ["ada", "bob"] {
///         let mut s = client.connect(addr, WAIT)?;
///         s.write_all(name.as_bytes())?;
///         s.close(WAIT)?;
///     }
///     Ok(())
/// });
///
/// let mut names = Vec::new();
/// for _ in 0..2 {
///     let (mut stream, peer) = listener.accept_timeout(WAIT)?;
///     assert_eq!(stream.peer_addr()?, peer);
///     stream.set_read_timeout(Some(WAIT))?;
///     let mut name = String::new();
///     stream.read_to_string(&mut name)?; // until the client's FIN
///     names.push(name);
/// }
/// clients.join().unwrap()?;
/// assert_eq!(names, ["ada", "bob"]);
///
/// let none = listener.accept_timeout(Duration::from_millis(20));
/// assert_eq!(none.unwrap_err().kind(), ErrorKind::TimedOut);
/// # Ok(())
/// # }
/// ```
pub struct Listener<M: Machine = crate::tcp::Spec> {
    endpoint: Endpoint<M>,
    port: u16,
}

impl<M: Machine> Listener<M> {
    /// The inner port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The inner address listened on: the endpoint's
    /// [inner address](Endpoint::inner_addr) and this port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(SocketAddrV4::new(
            self.endpoint.inner_addr(),
            self.port,
        )))
    }

    /// Waits for an open connection; returns it with the peer's inner
    /// address.
    pub fn accept(&self) -> io::Result<(Stream<M>, SocketAddr)> {
        self.accept_until(None)
    }

    /// Waits at most `timeout` for an open connection; fails with
    /// [`io::ErrorKind::TimedOut`] if none comes.
    pub fn accept_timeout(&self, timeout: Duration) -> io::Result<(Stream<M>, SocketAddr)> {
        self.accept_until(Some(Instant::now() + timeout))
    }

    fn accept_until(&self, deadline: Option<Instant>) -> io::Result<(Stream<M>, SocketAddr)> {
        let shared = self.endpoint.shared();
        let mut io = shared.lock();
        loop {
            if let Some(id) = io.host.accept(self.port).map_err(host_error)? {
                let peer = io.host.connection(id).and_then(|c| c.remote());
                drop(io);
                let stream = Stream::new(self.endpoint.clone(), id);
                let peer = peer.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "accepted without a peer")
                })?;
                return Ok((stream, SocketAddr::V4(peer)));
            }
            io = wait(
                shared,
                io,
                WaitOn::Listener(self.port),
                deadline,
                io::ErrorKind::TimedOut,
            )?;
        }
    }
}

impl<M: Machine> std::fmt::Debug for Listener<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<M: Machine> Drop for Listener<M> {
    fn drop(&mut self) {
        let _ = self
            .endpoint
            .call(|host, now| host.unlisten(now, self.port));
    }
}

/// Waits for a change, at most until `deadline`; past it, fails with
/// `expired` (`TimedOut` for the waits of this module, `WouldBlock` for
/// read and write timeouts, as `std::net` on Linux).
///
/// If no other thread drives, the calling thread does: it waits in `poll`
/// on the socket itself and handles what arrives, so that what it waits
/// for needs no hand-off from another thread. Otherwise it asks the I/O
/// thread to stand back and waits for a change.
fn wait<'a, M: Machine>(
    shared: &'a Shared<M>,
    mut io: MutexGuard<'a, Io<M>>,
    on: WaitOn,
    deadline: Option<Instant>,
    expired: io::ErrorKind,
) -> io::Result<MutexGuard<'a, Io<M>>> {
    let now = Instant::now();
    let left = match deadline {
        None => None,
        Some(d) => {
            let left = d.saturating_duration_since(now);
            if left.is_zero() {
                let text = match expired {
                    io::ErrorKind::WouldBlock => "the stream's timeout ran out",
                    _ => "timed out",
                };
                return Err(io::Error::new(expired, text));
            }
            Some(left)
        }
    };
    io.app_drove_at = Some(now);
    if let Some(mut driver) = shared.try_driver() {
        io.held_by = Some(Holder::Application);
        drop(io);
        shared.drive(&mut driver, deadline);
        let mut io = shared.lock();
        io.held_by = None;
        drop(driver);
        io.app_drove_at = Some(Instant::now());
        io.pass_driver();
        return Ok(io);
    }
    if io.held_by == Some(Holder::IoThread) {
        // It stands back after this turn.
        shared.wake();
    }
    let wake = Arc::new(Condvar::new());
    io.waiting.push(Waiter {
        on,
        wake: wake.clone(),
    });
    let mut io = match left {
        None => wake.wait(io).unwrap_or_else(|e| e.into_inner()),
        Some(left) => {
            wake.wait_timeout(io, left)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    };
    if let Some(i) = io.waiting.iter().position(|w| Arc::ptr_eq(&w.wake, &wake)) {
        io.waiting.swap_remove(i);
    }
    Ok(io)
}

/// One connection, as a byte stream; like `std::net::TcpStream`.
///
/// `&Stream` reads and writes too, so one thread can read while another
/// writes. `flush` waits until the peer acknowledged everything written.
/// Dropping a stream closes it like a socket's `close`: our FIN goes out
/// (if it has not), and the connection finishes in the background.
///
/// # Examples
///
/// One thread writes while another reads the same stream; the read and
/// write timeouts bound every wait:
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::Shutdown;
/// use std::time::Duration;
/// use fsm_runtime::{Config, Endpoint, Options};
///
/// # fn main() -> std::io::Result<()> {
/// const WAIT: Duration = Duration::from_secs(5);
/// let options = || Options::with_config(Config::loopback(Duration::from_millis(50)));
/// let server = Endpoint::bind_with("127.0.0.1:0", options())?;
/// let client = Endpoint::bind_with("127.0.0.1:0", options())?;
/// let listener = server.listen(server.local_addr()?.port(), 1)?;
/// let stream = client.connect(server.local_addr()?, WAIT)?;
/// let (peer, _) = listener.accept_timeout(WAIT)?;
/// assert_eq!(stream.peer_addr()?, peer.local_addr()?);
/// assert_eq!(stream.local_addr()?, peer.peer_addr()?);
///
/// for s in [&stream, &peer] {
///     s.set_read_timeout(Some(WAIT))?;
///     s.set_write_timeout(Some(WAIT))?;
/// }
/// assert_eq!(stream.read_timeout()?, Some(WAIT));
///
/// // A read with nothing to read waits out its timeout, then fails with
/// // `WouldBlock`, as `std::net::TcpStream`'s does on Linux.
/// stream.set_read_timeout(Some(Duration::from_millis(20)))?;
/// let err = (&stream).read(&mut [0; 16]).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
/// stream.set_read_timeout(Some(WAIT))?;
///
/// std::thread::scope(|scope| -> std::io::Result<()> {
///     let writer = scope.spawn(|| -> std::io::Result<()> {
///         let mut w = &stream;
///         for _ in 0..100 {
///             w.write_all(&[7; 1000])?;
///         }
///         w.flush()?; // every byte acknowledged
///         stream.shutdown(Shutdown::Write)
///     });
///     let mut received = Vec::new();
///     (&peer).read_to_end(&mut received)?;
///     assert_eq!(received.len(), 100_000);
///     writer.join().unwrap()
/// })?;
///
/// // The peer closes last: LAST_ACK, then CLOSED; we wait out TIME_WAIT.
/// assert_eq!(peer.close(WAIT)?.to_string(), "CLOSED");
/// assert_eq!(stream.wait_finished(WAIT)?.to_string(), "CLOSED");
/// # Ok(())
/// # }
/// ```
pub struct Stream<M: Machine = crate::tcp::Spec> {
    endpoint: Endpoint<M>,
    id: ConnId,
    timeouts: Mutex<Timeouts>,
    write_closed: AtomicBool,
}

/// A stream's read and write timeouts (`None`: wait as long as it takes).
#[derive(Clone, Copy, Default)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

/// A timeout as `std::net::TcpStream` takes it: zero is refused.
fn check_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(timeout)
}

impl<M: Machine> Stream<M> {
    fn new(endpoint: Endpoint<M>, id: ConnId) -> Self {
        Stream {
            endpoint,
            id,
            timeouts: Mutex::new(Timeouts::default()),
            write_closed: AtomicBool::new(false),
        }
    }

    fn timeouts(&self) -> Timeouts {
        *self.timeouts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a change of this connection (see [`wait`]).
    fn wait<'a>(
        &'a self,
        io: MutexGuard<'a, Io<M>>,
        deadline: Option<Instant>,
        expired: io::ErrorKind,
    ) -> io::Result<MutexGuard<'a, Io<M>>> {
        let on = WaitOn::Connection(self.id);
        wait(self.endpoint.shared(), io, on, deadline, expired)
    }

    /// Until when a read (or write) that starts now may wait.
    fn deadline(timeout: Option<Duration>) -> Option<Instant> {
        timeout.map(|t| Instant::now() + t)
    }

    /// Waits, at most `timeout`, until the connection opens (enters a
    /// state of the spec's group `open`), or fails with the error the spec
    /// reported. For a stream from [`Endpoint::start_connect`] or
    /// [`Endpoint::listen_for`]; other streams are open already.
    pub fn wait_open(&self, timeout: Duration) -> io::Result<()> {
        let shared = self.endpoint.shared();
        let deadline = Instant::now() + timeout;
        let mut io = shared.lock();
        loop {
            if let Some(r) = io.try_opened(self.id) {
                return r;
            }
            io = self.wait(io, Some(deadline), io::ErrorKind::TimedOut)?;
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
        self.endpoint.shared().lock().trace(self.id, false)
    }

    /// The transitions this connection's congestion machine took (empty if
    /// the config does not keep traces).
    pub fn cc_trace(&self) -> Vec<TraceEntry> {
        self.endpoint.shared().lock().trace(self.id, true)
    }

    /// This connection's congestion window, while it has a TCB.
    pub fn congestion(&self) -> Option<CongestionView> {
        let io = self.endpoint.shared().lock();
        io.host.connection(self.id).and_then(|c| c.congestion())
    }

    /// Our inner address (the endpoint's [inner
    /// address](Endpoint::inner_addr) and our port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let io = self.endpoint.shared().lock();
        io.connection_addr(self.id, |c| Some(c.local()))
    }

    /// The peer's inner address; [`io::ErrorKind::NotConnected`] if there
    /// is none (a stream from [`Endpoint::listen_for`] before its peer
    /// came).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let io = self.endpoint.shared().lock();
        io.connection_addr(self.id, |c| c.remote())
    }

    /// Bounds how long a read waits for data (`None`: as long as it
    /// takes); when it runs out the read fails with
    /// [`io::ErrorKind::WouldBlock`]. A zero `Duration` is refused with
    /// [`io::ErrorKind::InvalidInput`], as by `std::net::TcpStream`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = check_timeout(timeout)?;
        self.timeouts.lock().unwrap_or_else(|e| e.into_inner()).read = timeout;
        Ok(())
    }

    /// Bounds how long a write waits for room in the send buffer, and how
    /// long `flush` waits for the peer's acknowledgments (`None`: as long
    /// as it takes); when it runs out the call fails with
    /// [`io::ErrorKind::WouldBlock`]. A zero `Duration` is refused with
    /// [`io::ErrorKind::InvalidInput`].
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = check_timeout(timeout)?;
        self.timeouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write = timeout;
        Ok(())
    }

    /// The read timeout ([`set_read_timeout`](Self::set_read_timeout)).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().read)
    }

    /// The write timeout ([`set_write_timeout`](Self::set_write_timeout)).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().write)
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
    /// state; running out of time fails with [`io::ErrorKind::TimedOut`]
    /// and leaves the connection to finish in the background.
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
            let st = io.status(self.id)?;
            if st.finished {
                let state = io.host.connection(self.id).map(|c| c.state());
                return state.ok_or_else(|| io::Error::other("connection released"));
            }
            io = self.wait(io, Some(deadline), io::ErrorKind::TimedOut)?;
        }
    }

    /// Aborts the connection (RST to the peer where the spec says so).
    pub fn abort(&self) -> io::Result<()> {
        self.write_closed.store(true, Ordering::SeqCst);
        self.endpoint.call(|host, now| host.abort(now, self.id))
    }

    /// The error the connection reported, if any.
    pub fn error(&self) -> Option<io::Error> {
        self.endpoint.shared().lock().error(self.id)
    }
}

impl<M: Machine> std::fmt::Debug for Stream<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish_non_exhaustive()
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
        let deadline = Stream::<M>::deadline(self.timeouts().read);
        let mut io = shared.lock();
        loop {
            if let Some(r) = io.try_read(self.id, buf) {
                if matches!(r, Ok(n) if n > 0) {
                    shared.after_call(io);
                }
                return r;
            }
            io = self.wait(io, deadline, io::ErrorKind::WouldBlock)?;
        }
    }
}

impl<M: Machine> Write for &Stream<M> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = self.endpoint.shared();
        let deadline = Stream::<M>::deadline(self.timeouts().write);
        let mut io = shared.lock();
        loop {
            if let Some(r) = io.try_write(self.id, buf) {
                if r.is_ok() {
                    shared.after_call(io);
                }
                return r;
            }
            io = self.wait(io, deadline, io::ErrorKind::WouldBlock)?;
        }
    }

    /// Waits until everything written is acknowledged, at most the write
    /// timeout.
    fn flush(&mut self) -> io::Result<()> {
        let shared = self.endpoint.shared();
        let deadline = Stream::<M>::deadline(self.timeouts().write);
        let mut io = shared.lock();
        loop {
            if let Some(r) = io.try_flushed(self.id) {
                return r;
            }
            io = self.wait(io, deadline, io::ErrorKind::WouldBlock)?;
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

//! The async API, for tokio (the feature `tokio`): [`AsyncEndpoint`],
//! [`AsyncListener`] and [`AsyncStream`], shaped like tokio's
//! `TcpListener` and `TcpStream` (a stream is `tokio::io::AsyncRead` and
//! `AsyncWrite`), on the same sans-IO [`Host`] as the blocking
//! [`Endpoint`](crate::Endpoint), with the same [`Options`].
//!
//! Calls run on the caller's task: a write queues its bytes in the host and
//! sends what the host then has ready; a read takes its bytes from the
//! host. A call that must wait leaves its task's `Waker` with its
//! connection. One task per endpoint, spawned on the current runtime by
//! [`AsyncEndpoint::bind`], owns the receiving side of the socket (tokio's
//! `AsyncFd` on the batched socket: `recvmmsg` with GRO) and the host's
//! timers (`tokio::time::sleep_until` its next deadline); after each round
//! it wakes the tasks waiting on connections whose status changed, and
//! only those. The addresses are as for the blocking API (see
//! [`endpoint`](crate::endpoint)): UDP for the endpoint, inner for
//! listeners and streams.
//!
//! No call here has a timeout of its own: bound a wait with
//! `tokio::time::timeout`. A connection's own user timeout
//! ([`Config::user_timeout`](crate::Config::user_timeout)) still ends a
//! handshake or a transfer that makes no progress.
//!
//! # Examples
//!
//! An echo over loopback, server and client each on its own UDP socket:
//!
//! ```
//! use std::time::Duration;
//! use fsm_runtime::asynch::AsyncEndpoint;
//! use fsm_runtime::{Config, Options};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::time::timeout;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! const WAIT: Duration = Duration::from_secs(5);
//! let options = || Options::with_config(Config::loopback(Duration::from_millis(50)));
//! let server = AsyncEndpoint::bind_with("127.0.0.1:0", options()).await?;
//! let client = AsyncEndpoint::bind_with("127.0.0.1:0", options()).await?;
//! let addr = server.local_addr()?;
//! let listener = server.listen(addr.port(), 8)?;
//!
//! let echo = tokio::spawn(async move {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     let mut request = Vec::new();
//!     stream.read_to_end(&mut request).await?;
//!     stream.write_all(&request).await?;
//!     stream.shutdown().await // our FIN
//! });
//!
//! let mut stream = timeout(WAIT, client.connect(addr)).await??;
//! stream.write_all(b"hello").await?;
//! stream.shutdown().await?;
//! let mut reply = Vec::new();
//! timeout(WAIT, stream.read_to_end(&mut reply)).await??;
//! assert_eq!(reply, b"hello");
//! echo.await??;
//! let end = timeout(WAIT, stream.wait_finished()).await??;
//! assert_eq!(end.to_string(), "CLOSED");
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::conn::CongestionView;
use crate::driver::{Core, bind_socket, first_of, host_error, inner_v4};
use crate::endpoint::{Memory, Options};
use crate::fault::FaultStats;
use crate::host::{Change, ConnId, Counters, Host, HostError, Status};
use crate::trace::TraceEntry;
use crate::udp::{Inbox, Socket};
use crate::vocab::Machine;

/// Receive batches the driver takes per round before timers and sends
/// get a turn.
const MAX_BATCHES: usize = 8;

/// Rounds the driver runs per poll before it yields to other tasks.
const MAX_ROUNDS: usize = 4;

/// What a waiting task looks at: a read at the receiving side of its
/// connection's status, every other wait (a write, a flush, an open, the
/// end) at the rest; so that, with a stream's two halves in two tasks,
/// what one half does wakes the other only when it matters to it.
#[derive(Clone, Copy)]
enum Interest {
    Read = 0,
    Other = 1,
}

/// The part of a connection's status a waiter with `interest` looks at.
fn view(st: Option<Status>, interest: Interest) -> Option<Status> {
    st.map(|s| match interest {
        Interest::Read => Status {
            open: false,
            writable: 0,
            all_acked: false,
            ..s
        },
        Interest::Other => Status {
            readable: 0,
            eof: false,
            ..s
        },
    })
}

/// Tasks waiting on one connection, by interest, each kind with the part
/// of the status it saw when the last of them looked: a change of that
/// part wakes them all.
#[derive(Default)]
struct Waiting {
    seen: [Option<Status>; 2],
    wakers: [Vec<Waker>; 2],
}

impl Waiting {
    /// Moves to `wake` the wakers of each interest whose part of `now`
    /// differs from what they saw; answers whether any are left.
    fn wake_changed(&mut self, now: Option<Status>, wake: &mut Vec<Waker>) -> bool {
        for interest in [Interest::Read, Interest::Other] {
            let i = interest as usize;
            if !self.wakers[i].is_empty() && view(now, interest) != self.seen[i] {
                wake.append(&mut self.wakers[i]);
            }
        }
        self.wakers.iter().any(|w| !w.is_empty())
    }
}

struct State<M: Machine> {
    core: Core<M>,
    /// The driver task, to wake when a deadline came earlier or the
    /// socket is full.
    driver: Option<Waker>,
    /// The driver's next deadline (`None`: none).
    sleeping_until: Option<Instant>,
    /// Tasks waiting on a connection.
    waiting: HashMap<ConnId, Waiting>,
    /// Tasks waiting to accept, by listening port.
    accepting: HashMap<u16, Vec<Waker>>,
    /// The host's changes of a driver round (kept for its allocation).
    changes: Vec<Change>,
}

/// Adds `waker` to `wakers` unless it wakes the same task as one there.
fn add_waker(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

impl<M: Machine> State<M> {
    /// Leaves `waker` with connection `id`, to be woken when the part of
    /// its status that `interest` looks at changes.
    fn wait(&mut self, id: ConnId, interest: Interest, waker: &Waker) {
        let seen = view(self.core.host.status(id), interest);
        let w = self.waiting.entry(id).or_default();
        w.seen[interest as usize] = seen;
        add_waker(&mut w.wakers[interest as usize], waker);
    }

    /// Moves the wakers of connection `id` to `wake` if its status
    /// changed since they came.
    fn changed(&mut self, id: ConnId, wake: &mut Vec<Waker>) {
        let now = self.core.host.status(id);
        if let Some(w) = self.waiting.get_mut(&id)
            && !w.wake_changed(now, wake)
        {
            self.waiting.remove(&id);
        }
    }

    /// Moves to `wake` the wakers of every connection the host changed
    /// (`Host::drain_changes`) whose status they look at changed, and of
    /// every listener it changed that has a connection to accept.
    fn all_changed(&mut self, wake: &mut Vec<Waker>) {
        let mut changes = std::mem::take(&mut self.changes);
        changes.extend(self.core.host.drain_changes());
        for change in changes.drain(..) {
            match change {
                Change::Connection(id) => self.changed(id, wake),
                Change::Listener(port) => {
                    if self.core.host.acceptable(port) > 0
                        && let Some(mut w) = self.accepting.remove(&port)
                    {
                        wake.append(&mut w);
                    }
                }
            }
        }
        self.changes = changes;
    }
}

struct Shared<M: Machine> {
    state: Mutex<State<M>>,
    socket: Socket,
    local: SocketAddrV4,
    inner: Ipv4Addr,
}

impl<M: Machine> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a call changed the host: sends what is ready on the caller's
    /// task, wakes the tasks waiting on connection `id` if its status
    /// changed and, if a deadline came earlier (or the socket is full and
    /// must be watched), the driver.
    fn after_call(&self, mut st: MutexGuard<'_, State<M>>, id: Option<ConnId>) {
        st.core.flush(&self.socket, Instant::now());
        let next = st.core.next_deadline();
        let earlier = next.is_some_and(|n| st.sleeping_until.is_none_or(|s| n < s));
        let driver = if st.core.outbox.stalled() || earlier {
            st.driver.take()
        } else {
            None
        };
        let mut wake = Vec::new();
        if let Some(id) = id {
            st.changed(id, &mut wake);
        }
        drop(st);
        wake.into_iter().chain(driver).for_each(Waker::wake);
    }
}

/// Stops the driver when the last handle goes.
struct Owner<M: Machine> {
    shared: Arc<Shared<M>>,
    driver: tokio::task::JoinHandle<()>,
}

impl<M: Machine> Drop for Owner<M> {
    fn drop(&mut self) {
        self.driver.abort();
        if let Some(p) = self.shared.lock().core.pcap.as_mut() {
            let _ = p.flush();
        }
    }
}

/// The socket, for tokio's reactor: holding the [`Shared`] that owns it
/// keeps its descriptor open while the reactor knows it.
struct Fd<M: Machine>(Arc<Shared<M>>);

impl<M: Machine> AsRawFd for Fd<M> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.socket.raw_fd()
    }
}

impl<M: Machine> Fd<M> {
    /// Registers the socket with the current runtime's reactor.
    fn register(shared: Arc<Shared<M>>) -> io::Result<AsyncFd<Fd<M>>> {
        // SAFETY: the descriptor is the socket's, which `Shared` owns and
        // closes only when dropped; the `AsyncFd` owns an `Arc` of it, so
        // the descriptor is open and the same for the `AsyncFd`'s whole
        // life, and `as_raw_fd` always answers it.
        #[allow(unsafe_code)]
        let fd = unsafe { AsyncFd::register(Fd(shared)) };
        fd.map_err(io::Error::from)
    }
}

/// The driver task: arrivals, timers, and sends the socket refused for a
/// while.
struct Driver<M: Machine> {
    shared: Arc<Shared<M>>,
    fd: AsyncFd<Fd<M>>,
    inbox: Inbox,
    sleep: Pin<Box<Sleep>>,
    wake: Vec<Waker>,
}

impl<M: Machine> Future for Driver<M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        for _ in 0..MAX_ROUNDS {
            // Read what has arrived, a bounded number of batches; the
            // system call runs outside the lock, the datagrams are handled
            // in place under it.
            let mut st = None;
            let mut batches = 0;
            let mut more = false;
            loop {
                if batches == MAX_BATCHES {
                    more = true;
                    break;
                }
                let mut ready = match this.fd.poll_read_ready(cx) {
                    Poll::Ready(Ok(g)) => g,
                    // The runtime is shutting down.
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => break,
                };
                batches += 1;
                match this.inbox.recv(&this.shared.socket) {
                    Ok(0) => ready.clear_ready(),
                    Ok(_) => st
                        .get_or_insert_with(|| this.shared.lock())
                        .core
                        .receive(Instant::now(), &this.inbox),
                    // An error the socket reported (an ICMP message, say)
                    // is consumed by the receive; go on.
                    Err(_) => {}
                }
            }
            let mut st = st.unwrap_or_else(|| this.shared.lock());
            let now = Instant::now();
            st.core.host.handle_timeout(now);
            st.core.flush(&this.shared.socket, now);
            while st.core.outbox.stalled() {
                match this.fd.poll_write_ready(cx) {
                    Poll::Ready(Ok(mut ready)) => {
                        st.core.flush(&this.shared.socket, Instant::now());
                        if st.core.outbox.stalled() {
                            ready.clear_ready();
                        }
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => break,
                }
            }
            st.all_changed(&mut this.wake);
            // A full socket wakes us when it has room; until then a
            // deadline could not be met anyway.
            let next = st
                .core
                .next_deadline()
                .filter(|_| !st.core.outbox.stalled());
            st.sleeping_until = next;
            if !st.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.driver = Some(cx.waker().clone());
            }
            drop(st);
            this.wake.drain(..).for_each(Waker::wake);
            if more {
                continue;
            }
            if let Some(d) = next {
                let d = tokio::time::Instant::from_std(d);
                if this.sleep.deadline() != d {
                    this.sleep.as_mut().reset(d);
                }
                if this.sleep.as_mut().poll(cx).is_ready() {
                    continue;
                }
            }
            return Poll::Pending;
        }
        // Work is left: yield to other tasks, and come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A TCP endpoint on one UDP socket, serving many connections, for tokio.
///
/// Binding spawns the endpoint's driver task on the current runtime; it
/// stops when the endpoint and every [`AsyncListener`] and [`AsyncStream`]
/// made from it are gone. Clones share the socket and the connections.
/// The [module](self) has an example.
pub struct AsyncEndpoint<M: Machine = crate::tcp::Spec> {
    owner: Arc<Owner<M>>,
}

impl<M: Machine> Clone for AsyncEndpoint<M> {
    fn clone(&self) -> Self {
        AsyncEndpoint {
            owner: self.owner.clone(),
        }
    }
}

impl<M: Machine> std::fmt::Debug for AsyncEndpoint<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncEndpoint")
            .field("local_addr", &self.shared().local)
            .field("inner_addr", &self.shared().inner)
            .finish_non_exhaustive()
    }
}

impl AsyncEndpoint {
    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr` (an IPv4
    /// address; port 0 picks a free one), with default options. Must be
    /// called within a tokio runtime with I/O and time enabled.
    pub async fn bind(addr: impl tokio::net::ToSocketAddrs) -> io::Result<Self> {
        Self::bind_with(addr, Options::default()).await
    }

    /// An endpoint for `tcp.fsm` on a UDP socket bound to `addr`.
    pub async fn bind_with(
        addr: impl tokio::net::ToSocketAddrs,
        options: Options,
    ) -> io::Result<Self> {
        Self::bind_spec(crate::tcp::Spec, addr, options).await
    }
}

impl<M: Machine + Default> AsyncEndpoint<M> {
    /// An endpoint driven by the spec compiled in as `M` (see
    /// [`machine!`](crate::machine)) on a UDP socket bound to `addr`.
    pub async fn bind_machine(
        addr: impl tokio::net::ToSocketAddrs,
        options: Options,
    ) -> io::Result<Self> {
        Self::bind_spec(M::default(), addr, options).await
    }
}

impl<M: Machine> AsyncEndpoint<M> {
    /// An endpoint driven by `machine` (compiled in, or loaded from a spec
    /// file with the `load` feature) on a UDP socket bound to `addr`, the
    /// first IPv4 address it resolves to.
    pub async fn bind_spec(
        machine: M,
        addr: impl tokio::net::ToSocketAddrs,
        options: Options,
    ) -> io::Result<Self> {
        let addr = first_of(tokio::net::lookup_host(addr).await?)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("not within a tokio runtime: {e}")))?;
        let (socket, local) = bind_socket(addr)?;
        let (core, inner) = Core::new(machine, local, options)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core,
                driver: None,
                sleeping_until: None,
                waiting: HashMap::new(),
                accepting: HashMap::new(),
                changes: Vec::new(),
            }),
            socket,
            local,
            inner,
        });
        let driver = Driver {
            fd: Fd::register(shared.clone())?,
            shared: shared.clone(),
            inbox: Inbox::new(),
            sleep: Box::pin(tokio::time::sleep(Duration::from_secs(3600))),
            wake: Vec::new(),
        };
        let driver = runtime.spawn(driver);
        Ok(AsyncEndpoint {
            owner: Arc::new(Owner { shared, driver }),
        })
    }

    fn shared(&self) -> &Shared<M> {
        &self.owner.shared
    }

    /// Runs one call on the host, then sends what it made ready and wakes
    /// whoever waits on connection `id`.
    fn call<T>(
        &self,
        id: Option<ConnId>,
        f: impl FnOnce(&mut Host<M>, Instant) -> Result<T, HostError>,
    ) -> io::Result<T> {
        let shared = self.shared();
        let mut st = shared.lock();
        let r = f(&mut st.core.host, Instant::now());
        shared.after_call(st, id);
        r.map_err(host_error)
    }

    /// The UDP socket's address: where datagrams for this endpoint go,
    /// and the address to [`connect`](Self::connect) to when the inner
    /// address is the UDP one (the default). Always IPv4.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(self.shared().local))
    }

    /// The inner IPv4 address: the one in the IPv4 headers of this
    /// endpoint's packets. The UDP socket's address unless
    /// [`Options::inner_addr`] says otherwise.
    pub fn inner_addr(&self) -> Ipv4Addr {
        self.shared().inner
    }

    /// A snapshot of the host's counters.
    pub fn counters(&self) -> Counters {
        self.shared().lock().core.host.counters().clone()
    }

    /// What the fault injector did so far.
    pub fn fault_stats(&self) -> FaultStats {
        *self.shared().lock().core.faults.stats()
    }

    /// How many connections the host holds and how much their buffers
    /// take.
    pub fn memory(&self) -> Memory {
        self.shared().lock().core.memory()
    }

    /// Listens on inner port `port`, keeping at most `backlog` opened
    /// connections not yet accepted.
    pub fn listen(&self, port: u16, backlog: usize) -> io::Result<AsyncListener<M>> {
        self.call(None, |host, now| host.listen(now, port, backlog))?;
        Ok(AsyncListener {
            endpoint: self.clone(),
            port,
        })
    }

    /// Connects to `addr` (its first IPv4 address: an inner address that
    /// is also the UDP peer's, as another endpoint's
    /// [`local_addr`](Self::local_addr) is by default); completes when the
    /// connection is open. The handshake's user timeout is the config's
    /// [`user_timeout`](crate::Config::user_timeout); a dropped future
    /// closes the connection.
    pub async fn connect(
        &self,
        addr: impl tokio::net::ToSocketAddrs,
    ) -> io::Result<AsyncStream<M>> {
        let remote = SocketAddr::V4(first_of(tokio::net::lookup_host(addr).await?)?);
        self.connect_via(remote, remote).await
    }

    /// Connects to inner address `remote` (IPv4), sending the datagrams to
    /// `udp_peer` (a bridge to a TUN device, say); otherwise as
    /// [`connect`](Self::connect).
    pub async fn connect_via(
        &self,
        remote: SocketAddr,
        udp_peer: SocketAddr,
    ) -> io::Result<AsyncStream<M>> {
        let remote = inner_v4(remote)?;
        let id = self.call(None, |host, now| {
            let timeout = host.config().user_timeout;
            host.connect(now, None, remote, udp_peer, Some(timeout))
        })?;
        let stream = AsyncStream::new(self.clone(), id);
        poll_fn(|cx| stream.poll_until(cx, Interest::Other, |core, id| core.try_opened(id)))
            .await?;
        Ok(stream)
    }
}

/// A listening port, from [`AsyncEndpoint::listen`]; like tokio's
/// `TcpListener`. Dropping it stops listening.
///
/// # Examples
///
/// Serving two clients one after the other:
///
/// ```
/// use std::time::Duration;
/// use fsm_runtime::asynch::AsyncEndpoint;
/// use fsm_runtime::{Config, Options};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::time::timeout;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// const WAIT: Duration = Duration::from_secs(5);
/// let options = || Options::with_config(Config::loopback(Duration::from_millis(50)));
/// let server = AsyncEndpoint::bind_with("127.0.0.1:0", options()).await?;
/// let listener = server.listen(server.local_addr()?.port(), 8)?;
/// let addr = listener.local_addr()?;
///
/// let clients = tokio::spawn(async move {
///     let client = AsyncEndpoint::bind_with("127.0.0.1:0", options()).await?;
///     for name in ["ada", "bob"] {
///         let mut s = client.connect(addr).await?;
///         s.write_all(name.as_bytes()).await?;
///         s.shutdown().await?;
///         s.wait_finished().await?;
///     }
///     std::io::Result::Ok(())
/// });
///
/// let mut names = Vec::new();
/// for _ in 0..2 {
///     let (mut stream, peer) = timeout(WAIT, listener.accept()).await??;
///     assert_eq!(stream.peer_addr()?, peer);
///     let mut name = String::new();
///     timeout(WAIT, stream.read_to_string(&mut name)).await??;
///     names.push(name);
/// }
/// timeout(WAIT, clients).await??.unwrap();
/// assert_eq!(names, ["ada", "bob"]);
/// # Ok(())
/// # }
/// ```
pub struct AsyncListener<M: Machine = crate::tcp::Spec> {
    endpoint: AsyncEndpoint<M>,
    port: u16,
}

impl<M: Machine> AsyncListener<M> {
    /// The inner port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The inner address listened on: the endpoint's
    /// [inner address](AsyncEndpoint::inner_addr) and this port.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(SocketAddrV4::new(
            self.endpoint.inner_addr(),
            self.port,
        )))
    }

    /// Waits for an open connection; returns it with the peer's inner
    /// address.
    pub async fn accept(&self) -> io::Result<(AsyncStream<M>, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// An open connection if one is waiting; otherwise the task is woken
    /// when one is.
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(AsyncStream<M>, SocketAddr)>> {
        let mut st = self.endpoint.shared().lock();
        let id = match st.core.host.accept(self.port) {
            Ok(Some(id)) => id,
            Ok(None) => {
                add_waker(st.accepting.entry(self.port).or_default(), cx.waker());
                return Poll::Pending;
            }
            Err(e) => return Poll::Ready(Err(host_error(e))),
        };
        let peer = st.core.host.connection(id).and_then(|c| c.remote());
        drop(st);
        let stream = AsyncStream::new(self.endpoint.clone(), id);
        Poll::Ready(match peer {
            Some(peer) => Ok((stream, SocketAddr::V4(peer))),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "accepted without a peer",
            )),
        })
    }
}

impl<M: Machine> std::fmt::Debug for AsyncListener<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncListener")
            .field("local_addr", &self.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<M: Machine> Drop for AsyncListener<M> {
    fn drop(&mut self) {
        self.endpoint.shared().lock().accepting.remove(&self.port);
        let _ = self
            .endpoint
            .call(None, |host, now| host.unlisten(now, self.port));
    }
}

/// One connection, as a byte stream; like tokio's `TcpStream`:
/// `tokio::io::AsyncRead` and `AsyncWrite` (`tokio::io::split` gives a
/// reading and a writing half).
///
/// A read completes with no bytes only at the peer's FIN, once every byte
/// before it was read; a connection that ends otherwise fails the read.
/// `poll_flush` completes once the peer acknowledged everything written;
/// `poll_shutdown` sends our FIN. Dropping a stream closes it like a
/// socket's `close`: our FIN goes out (if it has not), and the connection
/// finishes in the background.
pub struct AsyncStream<M: Machine = crate::tcp::Spec> {
    endpoint: AsyncEndpoint<M>,
    id: ConnId,
    write_closed: AtomicBool,
}

impl<M: Machine> AsyncStream<M> {
    fn new(endpoint: AsyncEndpoint<M>, id: ConnId) -> Self {
        AsyncStream {
            endpoint,
            id,
            write_closed: AtomicBool::new(false),
        }
    }

    /// What `ready` answers, once it answers; until then the task waits
    /// for a change of the part of the connection's status `interest`
    /// looks at.
    fn poll_until<T>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        ready: impl FnOnce(&mut Core<M>, ConnId) -> Option<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let mut st = self.endpoint.shared().lock();
        match ready(&mut st.core, self.id) {
            Some(r) => Poll::Ready(r),
            None => {
                st.wait(self.id, interest, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Runs one call on the connection, then sends what it made ready.
    fn call(
        &self,
        f: impl FnOnce(&mut Host<M>, Instant, ConnId) -> Result<(), HostError>,
    ) -> io::Result<()> {
        self.endpoint
            .call(Some(self.id), |host, now| f(host, now, self.id))
    }

    /// Our inner address (the endpoint's [inner
    /// address](AsyncEndpoint::inner_addr) and our port).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let st = self.endpoint.shared().lock();
        st.core.connection_addr(self.id, |c| Some(c.local()))
    }

    /// The peer's inner address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        let st = self.endpoint.shared().lock();
        st.core.connection_addr(self.id, |c| c.remote())
    }

    /// The machine's current state.
    pub fn state(&self) -> Option<M::State> {
        let st = self.endpoint.shared().lock();
        st.core.host.connection(self.id).map(|c| c.state())
    }

    /// The transitions this connection took (empty if the config does not
    /// keep traces).
    pub fn trace(&self) -> Vec<TraceEntry> {
        self.endpoint.shared().lock().core.trace(self.id, false)
    }

    /// The transitions this connection's congestion machine took (empty if
    /// the config does not keep traces).
    pub fn cc_trace(&self) -> Vec<TraceEntry> {
        self.endpoint.shared().lock().core.trace(self.id, true)
    }

    /// This connection's congestion window, while it has a TCB.
    pub fn congestion(&self) -> Option<CongestionView> {
        let st = self.endpoint.shared().lock();
        st.core
            .host
            .connection(self.id)
            .and_then(|c| c.congestion())
    }

    /// The error the connection reported, if any.
    pub fn error(&self) -> Option<io::Error> {
        self.endpoint.shared().lock().core.error(self.id)
    }

    /// Aborts the connection (RST to the peer where the spec says so).
    pub fn abort(&self) -> io::Result<()> {
        self.write_closed.store(true, Ordering::SeqCst);
        self.call(|host, now, id| host.abort(now, id))
    }

    /// Waits until the connection is gone (after TIME_WAIT, if it ends
    /// there); returns its final state.
    pub async fn wait_finished(&self) -> io::Result<M::State> {
        poll_fn(|cx| {
            self.poll_until(cx, Interest::Other, |core, id| match core.status(id) {
                Ok(st) if st.finished => Some(
                    core.host
                        .connection(id)
                        .map(|c| c.state())
                        .ok_or_else(|| io::Error::other("connection released")),
                ),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
        })
        .await
    }
}

impl<M: Machine> std::fmt::Debug for AsyncStream<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

impl<M: Machine> AsyncRead for AsyncStream<M> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let shared = self.endpoint.shared();
        let mut st = shared.lock();
        match st.core.try_read(self.id, buf.initialize_unfilled()) {
            Some(Ok(n)) => {
                buf.advance(n);
                if n > 0 {
                    // The window may have opened: the update goes now.
                    shared.after_call(st, Some(self.id));
                }
                Poll::Ready(Ok(()))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                st.wait(self.id, Interest::Read, cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<M: Machine> AsyncWrite for AsyncStream<M> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let shared = self.endpoint.shared();
        let mut st = shared.lock();
        match st.core.try_write(self.id, buf) {
            Some(Ok(n)) => {
                shared.after_call(st, Some(self.id));
                Poll::Ready(Ok(n))
            }
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => {
                st.wait(self.id, Interest::Other, cx.waker());
                Poll::Pending
            }
        }
    }

    /// Completes once everything written is acknowledged.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_until(cx, Interest::Other, |core, id| core.try_flushed(id))
    }

    /// Sends our FIN (once); does not wait for its acknowledgment.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_closed.swap(true, Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(self.call(|host, now, id| host.close(now, id)))
    }
}

impl<M: Machine> Drop for AsyncStream<M> {
    /// Like a socket's close: our FIN goes out (if not yet), and the
    /// connection finishes in the background.
    fn drop(&mut self) {
        let shared = self.endpoint.shared();
        let mut st = shared.lock();
        if !self.write_closed.load(Ordering::SeqCst) {
            let _ = st.core.host.close(Instant::now(), self.id);
        }
        st.core.host.release(self.id);
        st.waiting.remove(&self.id);
        shared.after_call(st, None);
    }
}

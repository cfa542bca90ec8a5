//! A smoltcp peer for interop tests: a smoltcp `Interface` whose
//! `Medium::Ip` device carries each IPv4 packet in one UDP datagram, to and
//! from an endpoint of ours, driven by its own polling thread.
//!
//! The peer's inner IPv4 address is its UDP socket's address (127.0.0.1),
//! and its TCP port is its UDP port, so our endpoint (which replies to the
//! UDP source of what it receives) and `Endpoint::connect` line up with it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fsm_runtime::wire;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// Largest datagram: an IPv4 packet of 64 KiB.
const MAX_DATAGRAM: usize = 65_536;

/// Longest the polling thread sleeps, so that it runs smoltcp's timers and
/// notices `stop` promptly whatever it was told.
const MAX_SLEEP: Duration = Duration::from_millis(5);

/// Segments kept in the wire log (the latest ones).
const LOG_LEN: usize = 400;

/// The device: packets smoltcp transmits go to our endpoint's UDP socket,
/// one per datagram; datagrams the polling thread received wait in `inbox`.
pub struct UdpDevice {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    inbox: VecDeque<Vec<u8>>,
    log: Log,
}

/// The latest segments seen on the wire, for failure messages.
#[derive(Default)]
pub struct Log {
    epoch: Option<Instant>,
    lines: VecDeque<String>,
    /// Packets smoltcp sent.
    pub sent: u64,
    /// Packets smoltcp received.
    pub received: u64,
}

impl Log {
    fn record(&mut self, outgoing: bool, packet: &[u8]) {
        if outgoing {
            self.sent += 1;
        } else {
            self.received += 1;
        }
        let at = self.epoch.get_or_insert_with(Instant::now).elapsed();
        let mut line = format!("{:>9.4}s ", at.as_secs_f64());
        match wire::parse(packet) {
            Ok((_, t)) => {
                let (from, to) = if outgoing {
                    ("smoltcp", "ours")
                } else {
                    ("ours", "smoltcp")
                };
                let _ = write!(
                    line,
                    "{from}:{} -> {to}:{} [{}] seq={} ack={} win={} len={}",
                    t.src_port,
                    t.dst_port,
                    t.flags,
                    t.seq.0,
                    t.ack.map_or("-".to_string(), |a| a.0.to_string()),
                    t.window,
                    t.payload.len()
                );
                if let Some(m) = t.mss {
                    let _ = write!(line, " mss={m}");
                }
                if let Some(w) = t.window_scale {
                    let _ = write!(line, " wscale={w}");
                }
            }
            Err(e) => {
                let _ = write!(line, "unparsable packet ({e}), {} bytes", packet.len());
            }
        }
        if self.lines.len() == LOG_LEN {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The latest segments, one a line.
    pub fn dump(&self) -> String {
        let mut s = format!(
            "smoltcp sent {} packets and received {}; the latest:\n",
            self.sent, self.received
        );
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

/// A received packet.
pub struct Rx(Vec<u8>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

/// A packet to send, in one datagram.
pub struct Tx<'a> {
    socket: &'a UdpSocket,
    peer: SocketAddr,
    log: &'a mut Log,
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.log.record(true, &buf);
        // Loopback UDP: a failure is a drop, which TCP recovers from.
        let _ = self.socket.send_to(&buf, self.peer);
        r
    }
}

impl Device for UdpDevice {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let packet = self.inbox.pop_front()?;
        self.log.record(false, &packet);
        Some((
            Rx(packet),
            Tx {
                socket: &self.socket,
                peer: self.peer,
                log: &mut self.log,
            },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx {
            socket: &self.socket,
            peer: self.peer,
            log: &mut self.log,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

/// smoltcp's whole state: the interface, the device, one TCP socket.
pub struct Net {
    /// The interface.
    pub iface: Interface,
    /// The UDP device.
    pub device: UdpDevice,
    /// The socket set, holding one TCP socket.
    pub sockets: SocketSet<'static>,
    /// The TCP socket's handle.
    pub handle: SocketHandle,
    epoch: Instant,
}

impl Net {
    /// smoltcp's clock: time since the peer started.
    pub fn now(&self) -> smoltcp::time::Instant {
        let us = i64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(i64::MAX);
        smoltcp::time::Instant::from_micros(us)
    }

    /// The TCP socket.
    pub fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handle)
    }

    /// Processes what arrived and sends what is ready.
    pub fn poll(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    /// Sends what is ready without processing what arrived (a bounded
    /// number of rounds).
    pub fn egress(&mut self) {
        let now = self.now();
        for _ in 0..10_000 {
            let r = self
                .iface
                .poll_egress(now, &mut self.device, &mut self.sockets);
            if r == smoltcp::iface::PollResult::None {
                break;
            }
        }
    }

    /// How long smoltcp can wait before it must be polled.
    fn delay(&mut self) -> Option<Duration> {
        let now = self.now();
        self.iface
            .poll_delay(now, &self.sockets)
            .map(|d| Duration::from_micros(d.total_micros()))
    }

    /// The wire log.
    pub fn log(&self) -> &Log {
        &self.device.log
    }
}

struct Shared {
    net: Mutex<Net>,
    /// Notified after every poll.
    changed: Condvar,
    stop: AtomicBool,
}

/// A smoltcp TCP peer talking to one endpoint of ours over loopback UDP.
pub struct SmolPeer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddrV4,
}

impl SmolPeer {
    /// A peer sending to the endpoint whose UDP socket is at `endpoint`,
    /// with TCP buffers of `buffer` bytes (the receive buffer is cut down
    /// if the kernel will not queue a window's worth of datagrams). Its
    /// polling thread stops by itself after `lifetime`.
    pub fn new(endpoint: SocketAddrV4, buffer: usize, seed: u64, lifetime: Duration) -> SmolPeer {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind smoltcp's UDP socket");
        let addr = match socket.local_addr().expect("local address") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound to IPv4"),
        };
        // A window's worth of datagrams must fit in the kernel's queue, or
        // smoltcp (which keeps few out-of-order ranges and waits a second
        // to retransmit) stalls on drops.
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        let queue = sock.recv_buffer_size().unwrap_or(212_992);
        // Each 1460-byte segment costs the queue about 2.3 KiB (Linux
        // reports twice the size set, which `queue` already is).
        let rx_size = buffer.min(queue / 3).max(32 * 1024);
        let socket = Arc::new(socket);

        let mut device = UdpDevice {
            socket: socket.clone(),
            peer: SocketAddr::V4(endpoint),
            inbox: VecDeque::new(),
            log: Log::default(),
        };
        let epoch = Instant::now();
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, smoltcp::time::Instant::from_micros(0));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::from(*addr.ip()), 8))
                .expect("one address fits");
        });
        let mut tcp_socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; rx_size]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        // Bound every wait: an unanswered peer ends the connection.
        tcp_socket.set_timeout(Some(smoltcp::time::Duration::from_secs(10)));
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(tcp_socket);
        let shared = Arc::new(Shared {
            net: Mutex::new(Net {
                iface,
                device,
                sockets,
                handle,
                epoch,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let thread_shared = shared.clone();
        let deadline = Instant::now() + lifetime;
        let thread = std::thread::Builder::new()
            .name(format!("smoltcp-{addr}"))
            .spawn(move || run(&thread_shared, &socket, deadline))
            .expect("spawn the smoltcp thread");
        SmolPeer {
            shared,
            thread: Some(thread),
            addr,
        }
    }

    /// smoltcp's address: inner and UDP, the TCP port being the UDP port.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Locks smoltcp's state; the polling thread waits meanwhile.
    pub fn lock(&self) -> MutexGuard<'_, Net> {
        self.shared.net.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on smoltcp's state, then polls (so that what `f` queued
    /// leaves at once).
    pub fn with<T>(&self, f: impl FnOnce(&mut Net) -> T) -> T {
        let mut net = self.lock();
        let r = f(&mut net);
        net.poll();
        drop(net);
        self.shared.changed.notify_all();
        r
    }

    /// Runs `f` after every change, polling after each run, until it
    /// returns `Some` or `limit` passes.
    pub fn wait_for<T>(
        &self,
        limit: Duration,
        mut f: impl FnMut(&mut Net) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut net = self.lock();
        loop {
            let r = f(&mut net);
            net.poll();
            if r.is_some() {
                drop(net);
                self.shared.changed.notify_all();
                return r;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            net = self
                .shared
                .changed
                .wait_timeout(net, left.min(MAX_SLEEP))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The TCP socket's state.
    pub fn state(&self) -> tcp::State {
        self.lock().tcp().state()
    }

    /// Waits up to `limit` for the TCP socket to reach a state `want`
    /// likes; returns the state it is in at the end.
    pub fn wait_state(&self, limit: Duration, want: impl Fn(tcp::State) -> bool) -> tcp::State {
        self.wait_for(limit, |n| Some(n.tcp().state()).filter(|s| want(*s)))
            .unwrap_or_else(|| self.state())
    }

    /// Listens on its TCP port (its UDP port).
    pub fn listen(&self) {
        let port = self.addr.port();
        self.with(|n| n.tcp().listen(port)).expect("smoltcp listen");
    }

    /// Connects from its TCP port to inner address `remote`.
    pub fn connect(&self, remote: SocketAddrV4) {
        let port = self.addr.port();
        self.with(|n| {
            let cx = n.iface.context();
            let socket = n.sockets.get_mut::<tcp::Socket>(n.handle);
            socket.connect(cx, (IpAddress::from(*remote.ip()), remote.port()), port)
        })
        .expect("smoltcp connect");
    }

    /// smoltcp's side of a transfer: sends `out` while reading until the
    /// peer's FIN; its FIN goes right after `out` if `close_first`, else
    /// after the peer's. Returns what it read; fails if the socket closed
    /// early or `limit` passed.
    pub fn exchange(
        &self,
        limit: Duration,
        out: &[u8],
        close_first: bool,
    ) -> Result<Vec<u8>, String> {
        let mut sent = 0;
        let mut got = Vec::with_capacity(out.len());
        let mut closed = false;
        let mut buf = vec![0u8; 64 * 1024];
        let r = self.wait_for(limit, |net| {
            let s = net.tcp();
            while sent < out.len() && s.can_send() {
                match s.send_slice(&out[sent..]) {
                    Ok(n) if n > 0 => sent += n,
                    _ => break,
                }
            }
            while s.can_recv() {
                match s.recv_slice(&mut buf) {
                    Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let eof = !s.may_recv();
            if !closed && sent == out.len() && (close_first || eof) {
                s.close();
                closed = true;
            }
            if s.state() == tcp::State::Closed && !(closed && eof) {
                return Some(Err(format!(
                    "smoltcp's socket closed early: sent {sent}, received {}",
                    got.len()
                )));
            }
            (closed && eof).then_some(Ok(()))
        });
        match r {
            Some(Ok(())) => Ok(got),
            Some(Err(e)) => Err(e),
            None => Err(format!(
                "smoltcp's side timed out in {:?}: sent {sent}, received {}, closed {closed}",
                self.state(),
                got.len()
            )),
        }
    }

    /// The latest segments on the wire.
    pub fn log(&self) -> String {
        self.lock().log().dump()
    }
}

impl Drop for SmolPeer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The polling thread: reads datagrams into the device's inbox and polls,
/// until told to stop or `deadline` passes.
fn run(shared: &Shared, socket: &UdpSocket, deadline: Instant) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut batch: Vec<Vec<u8>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let wait = {
            let mut net = shared.net.lock().unwrap_or_else(|e| e.into_inner());
            net.device.inbox.extend(batch.drain(..));
            net.poll();
            net.delay()
        };
        shared.changed.notify_all();
        let wait = wait
            .unwrap_or(MAX_SLEEP)
            .clamp(Duration::from_micros(200), MAX_SLEEP);
        let _ = socket.set_read_timeout(Some(wait));
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            keep(&mut batch, &buf[..n]);
        }
        // Take whatever else has arrived, without waiting.
        let _ = socket.set_nonblocking(true);
        while batch.len() < 256 {
            match socket.recv_from(&mut buf) {
                Ok((n, _)) => keep(&mut batch, &buf[..n]),
                Err(_) => break,
            }
        }
        let _ = socket.set_nonblocking(false);
    }
}

/// Keeps a received datagram unless it is empty.
fn keep(batch: &mut Vec<Vec<u8>>, bytes: &[u8]) {
    if !bytes.is_empty() {
        batch.push(bytes.to_vec());
    }
}

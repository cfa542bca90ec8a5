//! Bulk transfer (c): smoltcp to smoltcp over the encapsulation our runtime
//! uses, one IPv4 packet per UDP datagram on loopback.
//!
//! Two interfaces (inner addresses 10.0.0.1 and 10.0.0.2), each with its
//! own UDP socket and a `Medium::Ip` device that receives straight from the
//! socket (no queue, no allocation per packet). Each side runs in its own
//! thread: poll, move application data, poll again while anything happens,
//! and otherwise wait for a datagram at most until smoltcp's next timer
//! (at most 1 ms). As in (b), the application copies its data into and out
//! of the socket buffers.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use smoltcp::iface::{Config as IfaceConfig, Interface, PollResult, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::bulk::{Xfer, pattern, wait_readable};

/// The device: one datagram in, one datagram out, straight through the
/// (non-blocking) UDP socket.
struct UdpDev {
    socket: UdpSocket,
    peer: SocketAddr,
    rx: Vec<u8>,
    tx: Vec<u8>,
    sent: u64,
}

struct Rx<'a>(&'a [u8]);

impl RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

struct Tx<'a> {
    socket: &'a UdpSocket,
    peer: SocketAddr,
    buf: &'a mut [u8],
    sent: &'a mut u64,
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let b = &mut self.buf[..len];
        let r = f(b);
        if self.socket.send_to(b, self.peer).is_ok() {
            *self.sent += 1;
        }
        r
    }
}

impl Device for UdpDev {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        match self.socket.recv_from(&mut self.rx) {
            Ok((n, _)) if n > 0 => Some((
                Rx(&self.rx[..n]),
                Tx {
                    socket: &self.socket,
                    peer: self.peer,
                    buf: &mut self.tx,
                    sent: &mut self.sent,
                },
            )),
            _ => None,
        }
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx {
            socket: &self.socket,
            peer: self.peer,
            buf: &mut self.tx,
            sent: &mut self.sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 5001;

/// What one side's thread reports: application bytes moved, datagrams
/// sent, when the data started and when the last byte arrived.
struct SideResult {
    bytes: u64,
    datagrams: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    error: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn side(
    client: bool,
    socket: UdpSocket,
    peer: SocketAddr,
    bytes: usize,
    buffer: usize,
    deadline: Instant,
    ready: Arc<Barrier>,
    done: Arc<AtomicBool>,
) -> SideResult {
    let epoch = Instant::now();
    let now = || smoltcp::time::Instant::from_micros(epoch.elapsed().as_micros() as i64);
    let _ = socket.set_nonblocking(true);
    let mut dev = UdpDev {
        socket,
        peer,
        rx: vec![0; 65_536],
        tx: vec![0; 65_536],
        sent: 0,
    };
    let mut cfg = IfaceConfig::new(HardwareAddress::Ip);
    cfg.random_seed = if client { 2 } else { 1 };
    let mut iface = Interface::new(cfg, &mut dev, now());
    let me = if client { CLIENT_IP } else { SERVER_IP };
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::from(me), 24));
    });
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; buffer]),
    );
    s.set_timeout(Some(smoltcp::time::Duration::from_secs(10)));
    let mut result = SideResult {
        bytes: 0,
        datagrams: 0,
        first: None,
        last: None,
        error: None,
    };
    if !client && let Err(e) = s.listen(PORT) {
        result.error = Some(format!("listen: {e}"));
    }
    let mut sockets = SocketSet::new(Vec::new());
    let h = sockets.add(s);
    ready.wait();
    if client {
        let cx = iface.context();
        if let Err(e) = sockets.get_mut::<tcp::Socket>(h).connect(
            cx,
            (IpAddress::from(SERVER_IP), PORT),
            49_152,
        ) {
            result.error = Some(format!("connect: {e}"));
        }
    }
    let data = pattern(64 << 10);
    let mut buf = vec![0u8; 256 << 10];
    let mut closed = false;
    while result.error.is_none() && !done.load(Ordering::Relaxed) {
        if Instant::now() > deadline {
            result.error = Some("time limit".into());
            break;
        }
        let t = now();
        let mut busy = iface.poll(t, &mut dev, &mut sockets) != PollResult::None;
        let s = sockets.get_mut::<tcp::Socket>(h);
        if client {
            if s.may_send() && result.first.is_none() {
                result.first = Some(Instant::now());
            }
            while (result.bytes as usize) < bytes && s.can_send() {
                let left = bytes - result.bytes as usize;
                match s.send_slice(&data[..left.min(data.len())]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        result.bytes += n as u64;
                        busy = true;
                    }
                }
            }
            if result.bytes as usize == bytes && !closed {
                s.close();
                closed = true;
                busy = true;
            }
        } else {
            while s.can_recv() {
                match s.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        result.bytes += n as u64;
                        result.last = Some(Instant::now());
                        busy = true;
                    }
                }
            }
            if result.bytes as usize >= bytes {
                done.store(true, Ordering::Relaxed);
                break;
            }
            if !s.is_open() {
                result.error = Some(format!("server socket {}", s.state()));
                break;
            }
        }
        if !busy {
            let delay = iface
                .poll_delay(now(), &sockets)
                .map_or(Duration::from_millis(1), |d| {
                    Duration::from_micros(d.total_micros())
                })
                .min(Duration::from_millis(1));
            if !delay.is_zero() {
                wait_readable(&dev.socket, delay);
            }
        }
    }
    if client && result.error.is_none() && !done.load(Ordering::Relaxed) {
        result.error = Some("stopped".into());
    }
    result.datagrams = dev.sent;
    result
}

/// (c) `bytes` from one smoltcp to the other, TCP buffers of `buffer`
/// bytes each way.
pub fn transfer(bytes: usize, limit: Duration, buffer: usize) -> std::io::Result<Xfer> {
    let bind = || -> std::io::Result<UdpSocket> {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let r = socket2::SockRef::from(&s);
        r.set_recv_buffer_size(4 << 20)?;
        r.set_send_buffer_size(4 << 20)?;
        Ok(s)
    };
    let (a, b) = (bind()?, bind()?);
    let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
    let deadline = Instant::now() + limit;
    let ready = Arc::new(Barrier::new(2));
    let done = Arc::new(AtomicBool::new(false));
    let server = {
        let (ready, done) = (ready.clone(), done.clone());
        std::thread::spawn(move || side(false, a, b_addr, bytes, buffer, deadline, ready, done))
    };
    let client = {
        let (ready, done) = (ready.clone(), done.clone());
        std::thread::spawn(move || side(true, b, a_addr, bytes, buffer, deadline, ready, done))
    };
    let s = server
        .join()
        .map_err(|_| std::io::Error::other("server panicked"))?;
    done.store(true, Ordering::Relaxed);
    let c = client
        .join()
        .map_err(|_| std::io::Error::other("client panicked"))?;
    let (Some(first), Some(last)) = (c.first, s.last) else {
        return Err(std::io::Error::other(format!(
            "no data moved: client {:?}, server {:?}",
            c.error, s.error
        )));
    };
    Ok(Xfer {
        bytes: s.bytes,
        secs: (last - first).as_secs_f64(),
        segs: c.datagrams,
        acks: Some(s.datagrams),
        sent: None,
        incomplete: s.error.or(c.error),
    })
}

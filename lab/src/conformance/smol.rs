//! smoltcp under test: an `Interface` on a queue device (`Medium::Ip`),
//! one TCP socket, virtual time.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use super::{Addrs, Call, DATA, Implementation};

const SMOL_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 2);
const PORT: u16 = 4000;

/// The socket's timeout (smoltcp's user timeout, `set_timeout`): longer
/// than its TIME_WAIT (10 s), which it would otherwise cut short.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How much virtual time a timer may take to fire.
const TIMER_LIMIT: Duration = Duration::from_secs(600);

/// The device: packets in wait in `inbox`, packets out go to `outbox`.
#[derive(Default)]
struct Queue {
    inbox: VecDeque<Vec<u8>>,
    outbox: Vec<Vec<u8>>,
}

struct Rx(Vec<u8>);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

struct Tx<'a>(&'a mut Vec<Vec<u8>>);

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Queue {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let packet = self.inbox.pop_front()?;
        Some((Rx(packet), Tx(&mut self.outbox)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.outbox))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

struct Net {
    iface: Interface,
    device: Queue,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
}

/// smoltcp, one socket per run.
pub struct Smol {
    net: Option<Net>,
    now: Instant,
    addrs: Addrs,
}

impl Default for Smol {
    fn default() -> Self {
        Self::new()
    }
}

impl Smol {
    /// smoltcp with nothing open.
    pub fn new() -> Smol {
        Smol {
            net: None,
            now: Instant::from_secs(0),
            addrs: Addrs {
                implementation: SocketAddrV4::new(SMOL_IP, PORT),
                peer: SocketAddrV4::new(PEER_IP, 5000),
            },
        }
    }

    fn net(&mut self) -> &mut Net {
        self.net.as_mut().expect("begin was called")
    }

    fn poll(&mut self) {
        let now = self.now;
        let net = self.net();
        for _ in 0..100 {
            let r = net.iface.poll(now, &mut net.device, &mut net.sockets);
            if r == smoltcp::iface::PollResult::None && net.device.inbox.is_empty() {
                break;
            }
        }
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        let net = self.net();
        net.sockets.get_mut::<tcp::Socket>(net.handle)
    }
}

/// smoltcp's state in tcp.fsm's names.
fn name(s: tcp::State) -> &'static str {
    match s {
        tcp::State::Closed => "CLOSED",
        tcp::State::Listen => "LISTEN",
        tcp::State::SynSent => "SYN_SENT",
        tcp::State::SynReceived => "SYN_RCVD",
        tcp::State::Established => "ESTABLISHED",
        tcp::State::FinWait1 => "FIN_WAIT_1",
        tcp::State::FinWait2 => "FIN_WAIT_2",
        tcp::State::CloseWait => "CLOSE_WAIT",
        tcp::State::Closing => "CLOSING",
        tcp::State::LastAck => "LAST_ACK",
        tcp::State::TimeWait => "TIME_WAIT",
    }
}

impl Implementation for Smol {
    fn name(&self) -> String {
        "smoltcp 0.14".to_string()
    }

    fn cannot(&self, from: &str, event: &str, _passive: bool) -> Option<String> {
        match (from, event) {
            ("LISTEN", "send") => Some(
                "smoltcp's listen takes no remote end (no fully specified passive OPEN): \
                 a listening socket has no peer to send to"
                    .into(),
            ),
            (_, "linger_timeout") => Some("smoltcp has no FIN_WAIT_2 timeout".into()),
            ("CLOSED", "user_timeout") => Some("a closed socket has no timer".into()),
            ("TIME_WAIT", "user_timeout") => Some(
                "smoltcp's TIME_WAIT lasts 10 s, a constant; its timeout, if shorter, ends \
                 TIME_WAIT first and if longer never comes: the two cannot be told apart"
                    .into(),
            ),
            ("LISTEN", "user_timeout") => {
                Some("a listening socket has no remote end to time out".into())
            }
            _ => None,
        }
    }

    fn begin(&mut self, run: usize) -> Result<Addrs, String> {
        // A fresh interface and socket, a minute of virtual time on.
        self.now += Duration::from_secs(60);
        let mut device = Queue::default();
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = 7;
        let mut iface = Interface::new(config, &mut device, self.now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::from(SMOL_IP), 24))
                .expect("one address fits");
        });
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 65_535]),
            tcp::SocketBuffer::new(vec![0; 65_535]),
        );
        socket.set_timeout(Some(TIMEOUT));
        socket.set_ack_delay(None);
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(socket);
        self.net = Some(Net {
            iface,
            device,
            sockets,
            handle,
        });
        let port = 5000 + u16::try_from(run % 10_000).unwrap_or(0);
        self.addrs.peer = SocketAddrV4::new(PEER_IP, port);
        Ok(self.addrs)
    }

    fn call(&mut self, call: Call) -> Result<(), String> {
        let (port, peer) = (self.addrs.implementation.port(), self.addrs.peer);
        let r = match call {
            Call::Listen => self.socket().listen(port).map_err(|e| e.to_string()),
            Call::Connect => {
                let net = self.net();
                let socket = net.sockets.get_mut::<tcp::Socket>(net.handle);
                let remote = IpEndpoint::new(IpAddress::from(*peer.ip()), peer.port());
                socket
                    .connect(net.iface.context(), remote, port)
                    .map_err(|e| e.to_string())
            }
            Call::Send => self
                .socket()
                .send_slice(DATA)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Call::Close => {
                self.socket().close();
                Ok(())
            }
            Call::Abort => {
                self.socket().abort();
                Ok(())
            }
        };
        self.poll();
        r
    }

    fn inject(&mut self, packet: &[u8]) {
        self.net().device.inbox.push_back(packet.to_vec());
        self.poll();
    }

    fn collect(&mut self) -> Vec<Vec<u8>> {
        self.poll();
        std::mem::take(&mut self.net().device.outbox)
    }

    fn expire(&mut self, _timer: &str) -> Result<(), String> {
        // From deadline to deadline until the state changes.
        let start = self.now;
        let before = self.socket().state();
        while self.now < start + TIMER_LIMIT {
            let now = self.now;
            let net = self.net();
            let Some(at) = net.iface.poll_at(now, &net.sockets) else {
                break;
            };
            self.now = at.max(now + Duration::from_millis(1));
            self.poll();
            if self.socket().state() != before {
                break;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> String {
        name(self.socket().state()).to_string()
    }

    fn end(&mut self) {
        self.net = None;
    }
}

//! The runtime under test: its sans-IO [`Host`] driven directly, in
//! virtual time, with every event it raises recorded.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::Config;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::vocab::Machine;

use super::{Addrs, Call, DATA, Implementation};

const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const PORT: u16 = 4000;
/// The UDP peer the host answers (no socket: the tester takes every
/// datagram from `poll_transmit`).
const UDP_PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9));

/// (Source state, event) the runtime never raises, with why (from conn.rs:
/// the user timeout runs only while a TCB has a connect deadline or
/// something of ours awaits an ACK). tcp.fsm has no transition for any of
/// them (its user timeout names the states where it is raised, and
/// `--test coverage` holds it to that); a spec that has one gets it marked
/// untestable.
///
/// The FIN_WAIT_2 and TIME_WAIT entries hold because FIN_WAIT_2 is entered
/// only on the ACK of our FIN (`[fin_acked]`, as in tcp.fsm).
pub const NEVER_RAISED: &[(&str, &str, &str)] = &[
    (
        "CLOSED",
        "user_timeout",
        "a CLOSED machine has no TCB, hence no timers: it only answers a segment",
    ),
    (
        "LISTEN",
        "user_timeout",
        "a listening TCB has sent nothing awaiting an ACK and has no connect deadline",
    ),
    (
        "FIN_WAIT_2",
        "user_timeout",
        "all we sent, FIN included, is acknowledged and SEND is refused: nothing awaits an ACK",
    ),
    (
        "TIME_WAIT",
        "user_timeout",
        "all we sent is acknowledged and start_time_wait stopped the other timers: only 2MSL runs",
    ),
];

/// The runtime's [`Host`] under `M`.
pub struct Ours<M: Machine> {
    machine: M,
    host: Option<Host<M>>,
    epoch: Instant,
    now: Instant,
    id: Option<ConnId>,
    addrs: Addrs,
    out: Vec<Vec<u8>>,
    /// The events raised and not yet handed on by [`Implementation::notes`].
    raised: Vec<(&'static str, String)>,
}

impl<M: Machine> Ours<M> {
    /// The runtime with `machine` (tcp.fsm compiled in: `fsm_runtime::tcp::Spec`).
    pub fn new(machine: M) -> Self {
        let epoch = Instant::now();
        Ours {
            machine,
            host: None,
            epoch,
            now: epoch,
            id: None,
            addrs: Addrs {
                implementation: SocketAddrV4::new(HOST_IP, PORT),
                peer: SocketAddrV4::new(PEER_IP, 5000),
            },
            out: Vec::new(),
            raised: Vec::new(),
        }
    }

    /// The configuration: every event recorded, acknowledgments not
    /// delayed, short timers (they pass in virtual time).
    pub fn config() -> Config {
        Config {
            record_steps: true,
            ack_delay: Duration::ZERO,
            msl: Duration::from_secs(1),
            user_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(5),
            ..Config::default()
        }
    }

    fn host(&mut self) -> &mut Host<M> {
        self.host.as_mut().expect("begin was called")
    }

    fn id(&self) -> Result<ConnId, String> {
        self.id.ok_or_else(|| "no connection".to_string())
    }

    fn pump(&mut self) {
        let now = self.now;
        let mut buf = vec![0; 65_536];
        let mut out = Vec::new();
        let host = self.host();
        for _ in 0..1000 {
            let Some(t) = host.poll_transmit(now, &mut buf) else {
                break;
            };
            out.push(buf[..t.len].to_vec());
        }
        self.out.extend(out);
        let raised: Vec<_> = self
            .host()
            .drain_steps()
            .map(|s| {
                let text = match s.transition {
                    Some(_) => format!("{} -{}-> {}", s.from, s.event, s.to),
                    None => format!("{} -{}-> (refused)", s.from, s.event),
                };
                (s.event.name(), text)
            })
            .collect();
        self.raised.extend(raised);
    }
}

impl<M: Machine> Implementation for Ours<M> {
    fn name(&self) -> String {
        "our runtime".to_string()
    }

    fn cannot(&self, from: &str, event: &str, _passive: bool) -> Option<String> {
        NEVER_RAISED
            .iter()
            .find(|(s, e, _)| *s == from && *e == event)
            .map(|(_, _, why)| why.to_string())
    }

    fn begin(&mut self, run: usize) -> Result<Addrs, String> {
        // Each run a fresh host (a fixed ISN key: the runs repeat), a
        // minute of virtual time after the last.
        self.now += Duration::from_secs(60);
        self.host = Some(Host::with_machine(
            self.machine.clone(),
            HOST_IP,
            Self::config(),
            IsnGenerator::new([7; 16]),
            self.epoch,
        ));
        self.id = None;
        self.out.clear();
        self.raised.clear();
        let port = 5000 + u16::try_from(run % 10_000).unwrap_or(0);
        self.addrs.peer = SocketAddrV4::new(PEER_IP, port);
        Ok(self.addrs)
    }

    fn call(&mut self, call: Call) -> Result<(), String> {
        let now = self.now;
        let (port, peer) = (self.addrs.implementation.port(), self.addrs.peer);
        let r = match call {
            Call::Listen => {
                // A passive OPEN for the peer's socket: one TCB, in LISTEN
                // until its SYN (a fully specified passive OPEN).
                let host = self.host();
                host.listen_for(now, port, peer, UDP_PEER).map(|id| {
                    self.id = Some(id);
                })
            }
            Call::Connect => {
                let host = self.host();
                host.connect(now, Some(port), peer, UDP_PEER, None)
                    .map(|id| {
                        self.id = Some(id);
                    })
            }
            Call::Send => {
                let id = self.id()?;
                self.host().send(now, id, DATA).map(|_| ())
            }
            Call::Close => {
                let id = self.id()?;
                self.host().close(now, id)
            }
            Call::Abort => {
                let id = self.id()?;
                self.host().abort(now, id)
            }
        };
        self.pump();
        r.map_err(|e| e.to_string())
    }

    fn inject(&mut self, packet: &[u8]) {
        let now = self.now;
        self.host().handle_datagram(now, UDP_PEER, packet);
        self.pump();
    }

    fn collect(&mut self) -> Vec<Vec<u8>> {
        self.pump();
        std::mem::take(&mut self.out)
    }

    fn expire(&mut self, timer: &str) -> Result<(), String> {
        // Deadline after deadline until the event is raised (or nothing is
        // armed any more).
        for _ in 0..64 {
            let Some(at) = self.host().poll_timeout() else {
                return Ok(());
            };
            self.now = self.now.max(at);
            let now = self.now;
            self.host().handle_timeout(now);
            self.pump();
            if self.raised.iter().any(|(e, _)| *e == timer) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn state(&mut self) -> String {
        match self.id.and_then(|id| self.host.as_ref()?.connection(id)) {
            Some(c) => c.state().to_string(),
            None => "CLOSED".to_string(),
        }
    }

    fn notes(&mut self) -> Vec<String> {
        self.raised.drain(..).map(|(_, text)| text).collect()
    }

    fn traces_events(&self) -> bool {
        true
    }

    fn end(&mut self) {
        self.host = None;
        self.id = None;
    }
}

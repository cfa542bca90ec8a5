//! A bottleneck link in virtual time, with bulk flows through it: what the
//! congestion machine does when several connections share a link.
//!
//! The forward direction (senders to the receiver: data) crosses one
//! [`Link`]: datagrams are serialised one after another at its rate,
//! wait in a drop-tail queue while the link is busy, and are dropped when
//! the bytes waiting would exceed the queue's size; each then takes the
//! one-way propagation delay. The reverse direction (the receiver's
//! acknowledgments) takes the delay only, as an uncongested link would.
//!
//! Every flow is a real [`Host`] on each side (one sender host per flow,
//! one receiver host for them all), so the whole runtime runs: the
//! connection machine, the congestion machine, delayed ACKs, the
//! retransmission timer. Flow `i` connects at `i × start_gap` and sends
//! without end; the receiving application reads whatever arrives, and
//! checks every byte against what its sender wrote (a pattern per flow
//! and offset). A run stops at [`Scenario::duration`].
//!
//! [`Run`] holds, sampled every [`Scenario::sample_every`] of virtual
//! time, each flow's cwnd, ssthresh, congestion state and bytes delivered,
//! and the link's queue and bytes carried; and from those the link
//! utilisation over [`Scenario::measure_from`]..end, the drops, and Jain's
//! fairness index of the flows' throughputs over
//! [`Scenario::fairness_from`]..end.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::cc::Congestion;
use fsm_runtime::config::Config;
use fsm_runtime::fault::SplitMix64;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::recovery::Recovery;
use fsm_runtime::tcp::Spec;
use fsm_runtime::wire::{self, SeqNum};

const PORT: u16 = 80;
const UDP_PORT: u16 = 9;
/// Bytes an application hands over or takes per call.
const CHUNK: usize = 64 * 1024;
/// Calls an application makes per step at most (the buffers bound them
/// first; this bounds the loops whatever the buffers do).
const CALLS_PER_STEP: usize = 1_024;
/// Datagrams a host may send per step at most (its windows bound them
/// first: a 1 MiB window is 719 full segments).
const DATAGRAMS_PER_STEP: usize = 4_096;

/// The bottleneck: a rate, a one-way propagation delay, a drop-tail queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Bits per second.
    pub rate: u64,
    /// One-way propagation delay (the reverse direction takes it too, so
    /// the round trip without queueing is twice this plus serialisation).
    pub delay: Duration,
    /// Bytes that may wait behind the datagram being serialised.
    pub queue: usize,
}

impl Link {
    /// The bandwidth-delay product of the round trip, bytes.
    pub fn bdp(&self) -> usize {
        (self.rate as u128 * 2 * self.delay.as_nanos() / 8 / 1_000_000_000) as usize
    }

    /// How long `len` bytes take to serialise.
    pub fn serialise(&self, len: usize) -> Duration {
        Duration::from_nanos(
            (len as u128 * 8 * 1_000_000_000 / u128::from(self.rate.max(1))) as u64,
        )
    }
}

/// What a run does.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The bottleneck.
    pub link: Link,
    /// Bulk flows, each from its own sender host.
    pub flows: usize,
    /// Flow `i` connects at `i × start_gap`.
    pub start_gap: Duration,
    /// Virtual time the run lasts.
    pub duration: Duration,
    /// The senders' congestion machine.
    pub congestion: Congestion,
    /// The senders' recovery machine (RACK-TLP by default).
    pub recovery: Recovery,
    /// Send and receive buffer of every connection, bytes.
    pub buffer: usize,
    /// Segment size.
    pub mss: u16,
    /// Smallest RTO. RFC 6298 says 1 s; Linux takes 200 ms, which is what
    /// [`Scenario::new`] takes.
    pub min_rto: Duration,
    /// How long an acknowledgment may be delayed.
    pub ack_delay: Duration,
    /// Sampling period.
    pub sample_every: Duration,
    /// Utilisation is measured from here to the end (past the first
    /// flow's slow start).
    pub measure_from: Duration,
    /// Throughputs for the fairness index are taken from here to the end.
    pub fairness_from: Duration,
}

impl Scenario {
    /// `flows` flows 1 s apart over `link` for `duration` under
    /// `congestion`: buffers of 1 MiB, MSS 1460, minimum RTO 200 ms,
    /// delayed ACKs of at most 40 ms (Linux's), a sample every 10 ms,
    /// utilisation from 1 s, fairness over the second half.
    pub fn new(link: Link, flows: usize, duration: Duration, congestion: Congestion) -> Scenario {
        Scenario {
            link,
            flows,
            start_gap: Duration::from_secs(1),
            duration,
            congestion,
            recovery: Recovery::default(),
            buffer: 1024 * 1024,
            mss: 1460,
            min_rto: Duration::from_millis(200),
            ack_delay: Duration::from_millis(40),
            sample_every: Duration::from_millis(10),
            measure_from: Duration::from_secs(1).min(duration / 2),
            fairness_from: duration / 2,
        }
    }

    fn config(&self) -> Config {
        Config {
            mss: self.mss,
            recv_buffer: self.buffer,
            send_buffer: self.buffer,
            min_rto: self.min_rto,
            ack_delay: self.ack_delay,
            congestion: self.congestion.clone(),
            recovery: self.recovery.clone(),
            keep_trace: false,
            ..Config::default()
        }
    }
}

/// One flow at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Virtual time.
    pub at: Duration,
    /// The congestion window, bytes.
    pub cwnd: u32,
    /// The slow start threshold, bytes (`u32::MAX` until a loss).
    pub ssthresh: u32,
    /// Bytes in flight.
    pub flight: u32,
    /// The congestion machine's state.
    pub state: &'static str,
    /// Bytes the receiving application has read so far.
    pub delivered: u64,
}

/// The link at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSample {
    /// Virtual time.
    pub at: Duration,
    /// Bytes waiting in the queue.
    pub queued: usize,
    /// Bytes the link has carried so far (whole datagrams).
    pub carried: u64,
    /// Datagrams dropped so far.
    pub drops: u64,
}

/// What one flow did.
#[derive(Clone, Debug, Default)]
pub struct Flow {
    /// When it connected.
    pub start: Duration,
    /// Its samples, from its start.
    pub samples: Vec<Sample>,
    /// Bytes its receiving application read (all checked).
    pub delivered: u64,
    /// Bytes its sending application handed over.
    pub written: u64,
    /// Data segments it sent that carried nothing new.
    pub retransmissions: u64,
    /// Data segments it sent.
    pub segments: u64,
    /// Its datagrams the queue dropped.
    pub drops: u64,
}

impl Flow {
    /// Bytes delivered by virtual time `at` (from the last sample not after
    /// it).
    pub fn delivered_at(&self, at: Duration) -> u64 {
        let i = self.samples.partition_point(|s| s.at <= at);
        i.checked_sub(1).map_or(0, |i| self.samples[i].delivered)
    }

    /// Goodput from `from` to `to`, bits per second.
    pub fn throughput(&self, from: Duration, to: Duration) -> f64 {
        let bytes = self
            .delivered_at(to)
            .saturating_sub(self.delivered_at(from));
        bytes as f64 * 8.0 / (to - from).as_secs_f64().max(1e-9)
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Run {
    /// The scenario.
    pub scenario: Scenario,
    /// Each flow.
    pub flows: Vec<Flow>,
    /// The link, sampled.
    pub link: Vec<LinkSample>,
    /// The most bytes the queue ever held (taken at every arrival).
    pub max_queued: usize,
    /// Datagrams the link carried.
    pub datagrams: u64,
    /// Datagrams the queue dropped.
    pub drops: u64,
}

impl Run {
    /// Bytes carried by virtual time `at`.
    pub fn carried_at(&self, at: Duration) -> u64 {
        let i = self.link.partition_point(|s| s.at <= at);
        i.checked_sub(1).map_or(0, |i| self.link[i].carried)
    }

    /// Bytes carried over [`Scenario::measure_from`]..end, over what the
    /// rate allows in that time.
    pub fn utilisation(&self) -> f64 {
        let s = &self.scenario;
        let bytes = self.carried_at(s.duration) - self.carried_at(s.measure_from);
        let secs = (s.duration - s.measure_from).as_secs_f64();
        bytes as f64 * 8.0 / (s.link.rate as f64 * secs)
    }

    /// Each flow's goodput over [`Scenario::fairness_from`]..end, bits per
    /// second.
    pub fn throughputs(&self) -> Vec<f64> {
        let s = &self.scenario;
        self.flows
            .iter()
            .map(|f| f.throughput(s.fairness_from, s.duration))
            .collect()
    }

    /// Jain's fairness index of [`Run::throughputs`].
    pub fn fairness(&self) -> f64 {
        jain(&self.throughputs())
    }

    /// Retransmitted data segments, all flows.
    pub fn retransmissions(&self) -> u64 {
        self.flows.iter().map(|f| f.retransmissions).sum()
    }
}

/// Jain's fairness index, (Σx)² / (n·Σx²): 1 when all are equal, 1/n when
/// one takes everything. 1 for no values or all zero.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 1.0;
    }
    sum * sum / (xs.len() as f64 * squares)
}

/// Writes the bytes flow `flow` sends at `offset..offset + out.len()`.
fn pattern(flow: usize, offset: u64, out: &mut [u8]) {
    let word = |w: u64| {
        SplitMix64::new(((flow as u64) << 56) ^ w)
            .next_u64()
            .to_le_bytes()
    };
    let mut at = offset;
    let mut rest = out;
    while !rest.is_empty() {
        let skip = (at % 8) as usize;
        let take = (8 - skip).min(rest.len());
        rest[..take].copy_from_slice(&word(at / 8)[skip..skip + take]);
        rest = &mut rest[take..];
        at += take as u64;
    }
}

/// The forward link's state: the queue and the datagram being serialised.
struct Bottleneck {
    link: Link,
    /// (flow, bytes) waiting.
    queue: VecDeque<(usize, Vec<u8>)>,
    queued: usize,
    /// (done at, flow, bytes).
    serialising: Option<(Duration, usize, Vec<u8>)>,
    carried: u64,
    datagrams: u64,
    drops: u64,
    max_queued: usize,
}

impl Bottleneck {
    /// A datagram from flow `flow` reaches the link at `now`; answers
    /// whether it was dropped.
    fn offer(&mut self, now: Duration, flow: usize, bytes: Vec<u8>) -> bool {
        if self.serialising.is_none() {
            self.serialising = Some((now + self.link.serialise(bytes.len()), flow, bytes));
            return false;
        }
        if self.queued + bytes.len() > self.link.queue {
            self.drops += 1;
            return true;
        }
        self.queued += bytes.len();
        self.max_queued = self.max_queued.max(self.queued);
        self.queue.push_back((flow, bytes));
        false
    }

    /// Datagrams whose serialisation ended by `now`, each with the time
    /// it ended; the next one starts as each ends.
    fn done(&mut self, now: Duration, out: &mut Vec<(Duration, usize, Vec<u8>)>) {
        while let Some((end, ..)) = self.serialising
            && end <= now
        {
            let (end, flow, bytes) = self.serialising.take().expect("checked");
            self.carried += bytes.len() as u64;
            self.datagrams += 1;
            out.push((end, flow, bytes));
            if let Some((flow, next)) = self.queue.pop_front() {
                self.queued -= next.len();
                self.serialising = Some((end + self.link.serialise(next.len()), flow, next));
            }
        }
    }
}

/// One flow's two applications.
struct Pair {
    start: Duration,
    /// The sender's connection, once connected.
    sender: Option<ConnId>,
    /// The receiver's connection, once accepted.
    receiver: Option<ConnId>,
    /// The highest sequence number the sender has sent, to tell
    /// retransmissions.
    sent_to: Option<SeqNum>,
    flow: Flow,
}

fn sender_ip(flow: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1 + (flow / 250) as u8, 1 + (flow % 250) as u8)
}

const RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn udp(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, UDP_PORT))
}

/// A datagram on the way: (arrives at, order, to host, from host, bytes);
/// host `flows` is the receiver, host `i < flows` flow `i`'s sender.
type Arrival = Reverse<(Duration, u64, usize, usize, Vec<u8>)>;

/// Runs `scenario`, calling `progress` with the virtual time at every
/// sample. Fails if a receiving application reads a byte its sender did
/// not write there, or if a call the applications make fails.
pub fn run(scenario: &Scenario, progress: &mut dyn FnMut(Duration)) -> Result<Run, String> {
    let s = scenario;
    let n = s.flows;
    let base = Instant::now();
    let config = s.config();
    let key = |i: usize| {
        [
            i as u8,
            (i >> 8) as u8,
            3,
            1,
            4,
            1,
            5,
            9,
            2,
            6,
            5,
            3,
            5,
            8,
            9,
            7,
        ]
    };
    let mut hosts: Vec<Host<Spec>> = (0..=n)
        .map(|i| {
            let ip = if i == n { RECEIVER_IP } else { sender_ip(i) };
            Host::new(ip, config.clone(), IsnGenerator::new(key(i)), base)
        })
        .collect();
    let by_udp: HashMap<SocketAddr, usize> = (0..n).map(|i| (udp(sender_ip(i)), i)).collect();
    let by_ip: HashMap<Ipv4Addr, usize> = (0..n).map(|i| (sender_ip(i), i)).collect();
    hosts[n]
        .listen(base, PORT, n.max(1))
        .map_err(|e| e.to_string())?;
    let mut pairs: Vec<Pair> = (0..n)
        .map(|i| {
            let start = s.start_gap * i as u32;
            Pair {
                start,
                sender: None,
                receiver: None,
                sent_to: None,
                flow: Flow {
                    start,
                    ..Flow::default()
                },
            }
        })
        .collect();
    let mut link = Bottleneck {
        link: s.link,
        queue: VecDeque::new(),
        queued: 0,
        serialising: None,
        carried: 0,
        datagrams: 0,
        drops: 0,
        max_queued: 0,
    };
    let mut link_samples = Vec::new();
    let mut arrivals: BinaryHeap<Arrival> = BinaryHeap::new();
    let mut order = 0u64;
    let mut finished = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut chunk = vec![0u8; CHUNK];
    let mut expect = vec![0u8; CHUNK];
    let mut now = Duration::ZERO;
    let mut next_sample = Duration::ZERO;
    // Each step moves virtual time forward by at least a microsecond.
    let max_steps = s.duration.as_micros() as u64 + 1;
    for _ in 0..max_steps {
        let at = base + now;
        // The link: what finished serialising propagates.
        link.done(now, &mut finished);
        for (end, flow, bytes) in finished.drain(..) {
            order += 1;
            arrivals.push(Reverse((end + s.link.delay, order, n, flow, bytes)));
        }
        // Deliver what has arrived.
        while arrivals.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((_, _, to, from, bytes)) = arrivals.pop().expect("peeked");
            let from = if from == n {
                RECEIVER_IP
            } else {
                sender_ip(from)
            };
            hosts[to].handle_datagram(at, udp(from), &bytes);
        }
        for h in hosts.iter_mut() {
            h.handle_timeout(at);
        }
        // The applications: senders connect on time and write all they
        // can; the receiver accepts and reads all there is.
        for (i, p) in pairs.iter_mut().enumerate() {
            if p.sender.is_none() && now >= p.start {
                let remote = SocketAddrV4::new(RECEIVER_IP, PORT);
                let id = hosts[i]
                    .connect(at, None, remote, udp(RECEIVER_IP), None)
                    .map_err(|e| format!("flow {i}: connect: {e}"))?;
                p.sender = Some(id);
            }
            let Some(id) = p.sender else { continue };
            for _ in 0..CALLS_PER_STEP {
                let room = match hosts[i].status(id) {
                    Some(st) if st.open => st.writable.min(CHUNK),
                    _ => 0,
                };
                if room == 0 {
                    break;
                }
                pattern(i, p.flow.written, &mut chunk[..room]);
                match hosts[i].send(at, id, &chunk[..room]) {
                    Ok(0) => break,
                    Ok(k) => p.flow.written += k as u64,
                    Err(e) => return Err(format!("flow {i}: send: {e}")),
                }
            }
        }
        while let Ok(Some(id)) = hosts[n].accept(PORT) {
            let remote = hosts[n].connection(id).and_then(|c| c.remote());
            let Some(&i) = remote.and_then(|r| by_ip.get(r.ip())) else {
                return Err(format!("accepted a connection from {remote:?}, no flow's"));
            };
            pairs[i].receiver = Some(id);
        }
        for (i, p) in pairs.iter_mut().enumerate() {
            let Some(id) = p.receiver else { continue };
            for _ in 0..CALLS_PER_STEP {
                let k = hosts[n]
                    .recv(at, id, &mut chunk)
                    .map_err(|e| format!("flow {i}: recv: {e}"))?;
                if k == 0 {
                    break;
                }
                pattern(i, p.flow.delivered, &mut expect[..k]);
                if chunk[..k] != expect[..k] {
                    return Err(format!(
                        "flow {i}: bytes {}..{} are not what its sender wrote there",
                        p.flow.delivered,
                        p.flow.delivered + k as u64
                    ));
                }
                p.flow.delivered += k as u64;
            }
        }
        // What the hosts send: the senders' through the bottleneck, the
        // receiver's with the delay only.
        for (h, host) in hosts.iter_mut().enumerate() {
            for _ in 0..DATAGRAMS_PER_STEP {
                let Some(t) = host.poll_transmit(at, &mut buf) else {
                    break;
                };
                let bytes = buf[..t.len].to_vec();
                if h == n {
                    let Some(&to) = by_udp.get(&t.udp_peer) else {
                        continue;
                    };
                    order += 1;
                    arrivals.push(Reverse((now + s.link.delay, order, to, n, bytes)));
                    continue;
                }
                let p = &mut pairs[h];
                note_segment(&bytes, &mut p.sent_to, &mut p.flow);
                if link.offer(now, h, bytes) {
                    p.flow.drops += 1;
                }
            }
        }
        if now >= next_sample {
            for (i, p) in pairs.iter_mut().enumerate() {
                let Some(view) = p
                    .sender
                    .and_then(|id| hosts[i].connection(id)?.congestion())
                else {
                    continue;
                };
                p.flow.samples.push(Sample {
                    at: now,
                    cwnd: view.cwnd,
                    ssthresh: view.ssthresh,
                    flight: view.flight,
                    state: view.state,
                    delivered: p.flow.delivered,
                });
            }
            link_samples.push(LinkSample {
                at: now,
                queued: link.queued,
                carried: link.carried,
                drops: link.drops,
            });
            progress(now);
            next_sample += s.sample_every;
        }
        if now >= s.duration {
            break;
        }
        let next = [
            arrivals.peek().map(|Reverse((t, ..))| *t),
            link.serialising.as_ref().map(|(t, ..)| *t),
            pairs.iter().map(|p| p.start).find(|t| *t > now),
            Some(next_sample.min(s.duration)),
        ]
        .into_iter()
        .flatten()
        .chain(
            hosts
                .iter_mut()
                .filter_map(|h| h.poll_timeout())
                .map(|t| t - base),
        )
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::from_micros(1));
        now = next.max(now + Duration::from_nanos(1)).min(s.duration);
    }
    Ok(Run {
        scenario: s.clone(),
        flows: pairs.into_iter().map(|p| p.flow).collect(),
        link: link_samples,
        max_queued: link.max_queued,
        datagrams: link.datagrams,
        drops: link.drops,
    })
}

/// Counts a datagram a sender sent: a data segment, and a retransmission
/// when it carries nothing beyond what was sent before.
fn note_segment(bytes: &[u8], sent_to: &mut Option<SeqNum>, flow: &mut Flow) {
    let Ok((_, seg)) = wire::parse(bytes) else {
        return;
    };
    if seg.payload.is_empty() {
        return;
    }
    flow.segments += 1;
    let end = seg.seq + seg.payload.len();
    match sent_to {
        Some(top) if !end.gt(*top) => flow.retransmissions += 1,
        _ => *sent_to = Some(end),
    }
}

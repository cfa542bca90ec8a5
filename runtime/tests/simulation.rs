//! Deterministic simulation: two sans-IO hosts in a simulated network with
//! virtual time and a seeded fault model (loss up to 30%, duplication,
//! reordering, delay, corruption, a link that goes down for a while). For
//! every seed: each side receives exactly a prefix of what the other sent,
//! in order, and all of it unless its application saw an error; nobody
//! ever sees corrupt or invented data; both sides end in CLOSED.
//!
//! `SIM_SEEDS=N` sets how many seeds run (default 5000); a failure prints
//! its seed, and `SIM_SEED=S` replays just that one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::config::Config;
use fsm_runtime::fault::SplitMix64;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::tcp::Spec;

const CLIENT: usize = 0;
const SERVER: usize = 1;
const PORT: u16 = 80;
/// Virtual time after which a run that has not settled is a failure.
const HORIZON: Duration = Duration::from_secs(30 * 60);

fn ip(side: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + side as u8)
}

fn udp(side: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip(side), 9))
}

/// The network between the two hosts.
struct Link {
    loss: f64,
    duplicate: f64,
    corrupt: f64,
    latency: Duration,
    jitter: Duration,
    down: (Duration, Duration),
}

impl Link {
    fn random(rng: &mut SplitMix64) -> Link {
        let ms = |rng: &mut SplitMix64, max: u64| Duration::from_millis(rng.below(max + 1));
        let down_at = ms(rng, 3_000);
        // Now and then the link goes down for a while; rarely for longer
        // than the user timeout, so that a connection must give up.
        let down_for = if rng.chance(0.03) {
            Duration::from_secs(30) + ms(rng, 150_000)
        } else if rng.chance(0.3) {
            ms(rng, 8_000)
        } else {
            Duration::ZERO
        };
        Link {
            loss: rng.next_f64() * 0.3,
            duplicate: rng.next_f64() * 0.1,
            corrupt: rng.next_f64() * 0.05,
            latency: ms(rng, 20) + Duration::from_micros(100),
            jitter: ms(rng, 10),
            down: (down_at, down_at + down_for),
        }
    }
}

/// A datagram in flight: (arrival, order, destination side, corrupted, bytes).
type Flight = Reverse<(Duration, u64, usize, bool, Vec<u8>)>;

/// What one side's application does, step by step.
struct App {
    conn: Option<ConnId>,
    /// What it sends (the client: its data; the server: what it received).
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
    error: bool,
    /// Virtual time of the last progress, for the application's own
    /// timeout: a side that hears nothing for long enough aborts.
    progress: Duration,
    aborted: bool,
}

impl App {
    fn new(data: Vec<u8>) -> App {
        App {
            conn: None,
            to_send: data,
            sent: 0,
            received: Vec::new(),
            closed: false,
            error: false,
            progress: Duration::ZERO,
            aborted: false,
        }
    }
}

#[derive(Default)]
struct Outcome {
    completed: bool,
    bytes: usize,
    virtual_time: Duration,
    /// Datagrams the link lost, duplicated, and corrupted (counted when
    /// delivered).
    lost: u64,
    duplicated: u64,
    corrupted: u64,
    /// Datagrams the hosts dropped as malformed.
    malformed: u64,
}

fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(500));
    c.user_timeout = Duration::from_secs(60);
    c.max_retransmissions = 20;
    c.max_rto = Duration::from_secs(4);
    c.recv_buffer = 16 * 1024;
    c.send_buffer = 16 * 1024;
    c.mss = 536;
    c
}

fn run(seed: u64) -> Result<Outcome, String> {
    let mut rng = SplitMix64::new(seed);
    let link = Link::random(&mut rng);
    let len = rng.below(40_000) as usize;
    let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let base = Instant::now();
    let mut hosts: Vec<Host<Spec>> = (0..2)
        .map(|side| {
            let key = [
                seed as u8, side as u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            ];
            Host::new(ip(side), config(), IsnGenerator::new(key), base)
        })
        .collect();
    let mut apps = [App::new(data.clone()), App::new(Vec::new())];
    let mut flights: BinaryHeap<Flight> = BinaryHeap::new();
    let mut order = 0u64;
    let mut served = false;
    let mut tally = Outcome::default();
    let mut now = Duration::ZERO;
    let app_timeout = Duration::from_secs(5 * 60);
    let mut buf = vec![0u8; 65_536];
    let mut chunk = vec![0u8; 4096];

    hosts[SERVER]
        .listen(base, PORT, 4)
        .map_err(|e| e.to_string())?;
    apps[CLIENT].conn = Some(
        hosts[CLIENT]
            .connect(
                base,
                None,
                SocketAddrV4::new(ip(SERVER), PORT),
                udp(SERVER),
                Some(Duration::from_secs(60)),
            )
            .map_err(|e| e.to_string())?,
    );

    for _ in 0..2_000_000 {
        let at = base + now;
        // Deliver what has arrived.
        while flights.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((_, _, to, corrupted, bytes)) = flights.pop().expect("peeked");
            tally.corrupted += u64::from(corrupted);
            hosts[to].handle_datagram(at, udp(1 - to), &bytes);
        }
        for h in hosts.iter_mut() {
            h.handle_timeout(at);
        }
        // The applications. The server serves one connection; a second
        // one (from a SYN duplicated long after) is aborted.
        while let Ok(Some(id)) = hosts[SERVER].accept(PORT) {
            if apps[SERVER].conn.is_none() && !served {
                served = true;
                apps[SERVER].conn = Some(id);
                apps[SERVER].progress = now;
            } else {
                let _ = hosts[SERVER].abort(at, id);
                hosts[SERVER].release(id);
            }
        }
        for side in [CLIENT, SERVER] {
            step_app(
                side,
                &mut apps[side],
                &mut hosts[side],
                at,
                now,
                app_timeout,
                &mut chunk,
            );
        }
        // Send what the hosts have, through the link.
        for (side, host) in hosts.iter_mut().enumerate() {
            while let Some(t) = host.poll_transmit(at, &mut buf) {
                let in_window = now >= link.down.0 && now < link.down.1;
                if in_window || rng.chance(link.loss) {
                    tally.lost += 1;
                    continue;
                }
                let copies = if rng.chance(link.duplicate) { 2 } else { 1 };
                tally.duplicated += copies - 1;
                for _ in 0..copies {
                    let mut d = buf[..t.len].to_vec();
                    let corrupted = rng.chance(link.corrupt);
                    if corrupted {
                        let bit = rng.below(d.len() as u64 * 8);
                        d[(bit / 8) as usize] ^= 1 << (bit % 8);
                    }
                    let jitter = Duration::from_nanos(rng.below(link.jitter.as_nanos() as u64 + 1));
                    order += 1;
                    flights.push(Reverse((
                        now + link.latency + jitter,
                        order,
                        1 - side,
                        corrupted,
                        d,
                    )));
                }
            }
        }
        // Done when both applications let go of their connections and the
        // hosts hold nothing.
        let settled = apps[CLIENT].closed
            && apps.iter().all(|a| a.conn.is_none())
            && hosts.iter().all(|h| h.connections() == 0);
        if settled {
            break;
        }
        // Advance virtual time to the next thing that can happen.
        let next = [
            flights.peek().map(|Reverse((t, ..))| *t),
            hosts[0].poll_timeout().map(|t| t - base),
            hosts[1].poll_timeout().map(|t| t - base),
            Some(now + Duration::from_millis(50)), // the applications' pace
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::from_millis(1));
        now = next;
        if now > HORIZON {
            return Err(format!(
                "not settled after {HORIZON:?} of virtual time: client {}, server {}",
                describe(&apps[CLIENT], &hosts[CLIENT]),
                describe(&apps[SERVER], &hosts[SERVER])
            ));
        }
    }
    // Invariants.
    let server_got = &apps[SERVER].received;
    let client_got = &apps[CLIENT].received;
    if !data.starts_with(server_got) {
        return Err(format!(
            "server received {} bytes that are not a prefix of the data",
            server_got.len()
        ));
    }
    if !server_got.starts_with(client_got) {
        return Err(format!(
            "client received {} bytes that are not a prefix of the echo",
            client_got.len()
        ));
    }
    let clean = !apps[CLIENT].error && !apps[SERVER].error;
    if clean && (server_got.len() != data.len() || client_got.len() != data.len()) {
        return Err(format!(
            "no error reported, yet {}/{} bytes reached the server and {} came back",
            server_got.len(),
            data.len(),
            client_got.len()
        ));
    }
    Ok(Outcome {
        completed: clean,
        bytes: data.len(),
        virtual_time: now,
        malformed: hosts.iter().map(|h| h.counters().malformed.total()).sum(),
        ..tally
    })
}

fn describe(app: &App, host: &Host<Spec>) -> String {
    let state = app
        .conn
        .and_then(|c| host.connection(c))
        .map(|c| c.state().to_string())
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "state {state}, sent {}/{}, received {}, closed {}, error {}, connections {}",
        app.sent,
        app.to_send.len(),
        app.received.len(),
        app.closed,
        app.error,
        host.connections()
    )
}

/// One step of a side's application: the client writes its data, closes,
/// reads the echo; the server reads until the client's FIN, echoes, closes.
/// Either gives up (aborts) after `app_timeout` without progress.
fn step_app(
    side: usize,
    app: &mut App,
    host: &mut Host<Spec>,
    at: Instant,
    now: Duration,
    app_timeout: Duration,
    chunk: &mut [u8],
) {
    let Some(id) = app.conn else {
        return;
    };
    let Some(st) = host.status(id) else {
        return;
    };
    if st.error.is_some() {
        app.error = true;
    }
    // Read whatever arrived.
    loop {
        let n = host.recv(at, id, chunk).unwrap_or(0);
        if n == 0 {
            break;
        }
        app.received.extend_from_slice(&chunk[..n]);
        app.progress = now;
        if side == SERVER {
            app.to_send.extend_from_slice(&chunk[..n]);
        }
    }
    let st = host.status(id).expect("still held");
    let may_send = st.open && !app.closed && !app.error;
    // The server echoes as it reads; the client sends its data.
    if may_send
        && app.sent < app.to_send.len()
        && let Ok(n @ 1..) = host.send(at, id, &app.to_send[app.sent..])
    {
        app.sent += n;
        app.progress = now;
    }
    let done_sending = app.sent == app.to_send.len() && (side == CLIENT || st.eof);
    if !app.closed && st.open && done_sending {
        let _ = host.close(at, id);
        app.closed = true;
    }
    if st.finished || st.error.is_some() {
        if !app.closed {
            app.closed = true;
        }
        host.release(id);
        app.conn = None;
        return;
    }
    if now.saturating_sub(app.progress) > app_timeout && !app.aborted {
        app.aborted = true;
        app.error = true;
        app.closed = true;
        let _ = host.abort(at, id);
    }
}

#[test]
fn every_seed_delivers_a_prefix_in_order_and_both_sides_close() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(5000);
            (0..n).collect()
        }
    };
    let started = Instant::now();
    let mut completed = 0;
    let mut total = Outcome::default();
    for &seed in &seeds {
        match run(seed) {
            Ok(o) => {
                completed += usize::from(o.completed);
                total.bytes += o.bytes;
                total.virtual_time += o.virtual_time;
                total.lost += o.lost;
                total.duplicated += o.duplicated;
                total.corrupted += o.corrupted;
                total.malformed += o.malformed;
            }
            Err(e) => panic!(
                "seed {seed}: {e}\nreplay: SIM_SEED={seed} cargo test -p fsm-runtime --test simulation -- --nocapture"
            ),
        }
    }
    println!(
        "{} seeds in {:.1}s ({:.0}s of virtual time, {} bytes each way): {completed} transfers \
         completed, {} ended in an error the application saw",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        total.virtual_time.as_secs_f64(),
        total.bytes,
        seeds.len() - completed
    );
    println!(
        "link faults: {} datagrams lost, {} duplicated, {} corrupted; {} dropped by the hosts as malformed",
        total.lost, total.duplicated, total.corrupted, total.malformed
    );
    if seeds.len() >= 100 {
        assert!(
            total.lost > 0 && total.duplicated > 0 && total.corrupted > 0,
            "the faults happened"
        );
        assert_eq!(
            total.malformed, total.corrupted,
            "every corrupted datagram was caught by a checksum"
        );
    }
}

//! Section 6: what a bulk figure does not show, each side by side with the
//! kernel's TCP in the same run:
//!
//! - request/response latency: a 1-byte ping-pong over one connection,
//!   round trips per second and the p50 and p99 of one round trip (the
//!   kernel's with `TCP_NODELAY`, as ours sends at once);
//! - CPU cost of bulk transfer: user + system CPU seconds of this process
//!   (both ends run in it) per GB delivered, from `getrusage`;
//! - bulk with 1% loss: ours with the fault injector dropping 1% of the
//!   datagrams each endpoint sends, with the default recovery machine
//!   (RACK-TLP) and with NewReno's, on the same seeds. The kernel has no
//!   such knob on loopback here (this kernel has no `netem`), so its row
//!   is marked not comparable.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use fsm_runtime::fault::FaultConfig;
use fsm_runtime::recovery::Recovery;
use fsm_runtime::{Config, Endpoint, Options};

use crate::Plan;
use crate::bulk::{self, Xfer};
use crate::table::{Table, median, num};

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// `n` round trips, each timed: the client writes one byte, the server
/// (`echo`, on a thread of its own) sends it back, the client reads it.
fn ping_pong<C: Read + Write, S: Read + Write + Send + 'static>(
    n: usize,
    mut client: C,
    mut server: S,
) -> std::io::Result<Vec<Duration>> {
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let mut b = [0u8; 1];
        for _ in 0..n {
            server.read_exact(&mut b)?;
            server.write_all(&b)?;
        }
        Ok(())
    });
    let mut times = Vec::with_capacity(n);
    let mut byte = [0u8; 1];
    for i in 0..n {
        byte[0] = i as u8;
        let t = Instant::now();
        client.write_all(&byte)?;
        client.read_exact(&mut byte)?;
        times.push(t.elapsed());
        if byte[0] != i as u8 {
            return Err(std::io::Error::other("the echo differs"));
        }
    }
    echo.join()
        .map_err(|_| std::io::Error::other("echo panicked"))??;
    Ok(times)
}

/// Ours: a server thread echoing each byte.
fn ours(n: usize) -> std::io::Result<Vec<Duration>> {
    let server = Endpoint::bind_with(localhost(), Options::with_config(bulk::bulk_config(None)))?;
    let client = Endpoint::bind_with(localhost(), Options::with_config(bulk::bulk_config(None)))?;
    let listener = server.listen(server.local_addr()?.port(), 1)?;
    let c = client.connect(server.local_addr()?, Duration::from_secs(5))?;
    let (s, _) = listener.accept_timeout(Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    ping_pong(n, c, s)
}

/// The kernel's TCP over loopback, `TCP_NODELAY` on both ends.
fn kernel(n: usize) -> std::io::Result<Vec<Duration>> {
    let listener = TcpListener::bind(localhost())?;
    let addr = listener.local_addr()?;
    let c = TcpStream::connect(addr)?;
    let (s, _) = listener.accept()?;
    for x in [&c, &s] {
        x.set_nodelay(true)?;
        x.set_read_timeout(Some(Duration::from_secs(5)))?;
    }
    ping_pong(n, c, s)
}

/// A connected UDP socket as a byte stream of one-datagram reads and
/// writes: the floor under any TCP carried in UDP.
struct Datagrams(UdpSocket);

impl Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.recv(buf)
    }
}

impl Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Raw UDP: one datagram each way, blocking `send` and `recv`. Nothing is
/// lost on loopback at one datagram in flight; the read timeout bounds a
/// run if something were.
fn udp(n: usize) -> std::io::Result<Vec<Duration>> {
    let (c, s) = (UdpSocket::bind(localhost())?, UdpSocket::bind(localhost())?);
    c.connect(s.local_addr()?)?;
    s.connect(c.local_addr()?)?;
    for x in [&c, &s] {
        x.set_read_timeout(Some(Duration::from_secs(5)))?;
    }
    ping_pong(n, Datagrams(c), Datagrams(s))
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given; a zeroed rusage is
    // a valid value of it.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// A transfer and the CPU seconds per GB it delivered.
fn with_cpu(xfer: impl FnOnce() -> std::io::Result<Xfer>) -> std::io::Result<(Xfer, f64)> {
    let before = cpu_time();
    let x = xfer()?;
    let per_gb = (cpu_time() - before).as_secs_f64() / (x.bytes as f64 / 1e9);
    Ok((x, per_gb))
}

pub fn quantile(times: &[Duration], q: f64) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t.get(((t.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

pub fn run(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let n = if plan.quick { 5_000 } else { 20_000 };
    let (mut rate, mut p50, mut p99) = <[[Vec<f64>; 3]; 3]>::default().into();
    let (mut ratio, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        let mut per_sec = [0.0; 3];
        for (k, times) in [ours(n)?, kernel(n)?, udp(n)?].into_iter().enumerate() {
            let total: Duration = times.iter().sum();
            per_sec[k] = times.len() as f64 / total.as_secs_f64();
            rate[k].push(per_sec[k]);
            p50[k].push(quantile(&times, 0.5).as_secs_f64() * 1e6);
            p99[k].push(quantile(&times, 0.99).as_secs_f64() * 1e6);
        }
        ratio.push(per_sec[0] / per_sec[1]);
        floor.push(per_sec[2] / per_sec[1]);
    }
    let names = [
        "ours",
        "kernel TCP (TCP_NODELAY)",
        "raw UDP, blocking send/recv",
    ];
    for (k, name) in names.into_iter().enumerate() {
        table.row(
            "6 latency",
            &format!("1-byte ping-pong, {name}: round trips"),
            &num(median(&rate[k])),
            "/s",
            plan.rounds,
            "",
            &format!(
                "{n} round trips a run; p50 {} µs, p99 {} µs",
                num(median(&p50[k])),
                num(median(&p99[k]))
            ),
        );
    }
    table.row(
        "6 latency",
        "ratio of round trips: ours / kernel",
        &format!("{:.2}", median(&ratio)),
        "×",
        plan.rounds,
        "",
        "median of per-round ratios",
    );
    table.row(
        "6 latency",
        "ratio of round trips: raw UDP / kernel TCP",
        &format!("{:.2}", median(&floor)),
        "×",
        plan.rounds,
        "",
        "what a TCP carried in UDP could reach at best",
    );

    let bytes = plan.bulk_bytes;
    let (mut cpu, mut lossy) = ([vec![], vec![]], [vec![], vec![], vec![]]);
    let bbr = fsm_runtime::cc::Congestion::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/specs/congestion/bbr.fsm"
    ))?;
    let machines = [
        (Recovery::rack_tlp(), fsm_runtime::cc::Congestion::default()),
        (Recovery::new_reno(), fsm_runtime::cc::Congestion::default()),
        (Recovery::rack_tlp(), bbr),
    ];
    for round in 0..plan.rounds {
        let (_, c) = with_cpu(|| bulk::ours(bytes, plan.bulk_limit, None))?;
        cpu[0].push(c);
        let (_, c) = with_cpu(|| bulk::kernel(bytes, plan.bulk_limit, None))?;
        cpu[1].push(c);
        let faults: FaultConfig = format!("loss=0.01,seed={round}").parse()?;
        for (k, (recovery, congestion)) in machines.iter().enumerate() {
            let x = bulk::ours_with(bytes / 4, plan.bulk_limit, &|| {
                let mut o = Options::with_config(Config {
                    recovery: recovery.clone(),
                    congestion: congestion.clone(),
                    ..bulk::bulk_config(None)
                });
                o.faults = faults;
                o
            })?;
            if let Some(why) = &x.incomplete {
                return Err(format!("bulk with 1% loss: {why}").into());
            }
            lossy[k].push(x.mb_s());
        }
    }
    for (k, name) in ["(b) ours", "(d) kernel TCP"].into_iter().enumerate() {
        table.row(
            "6 cpu",
            &format!("{name}: CPU per GB delivered"),
            &format!("{:.2}", median(&cpu[k])),
            "CPU s/GB",
            plan.rounds,
            "",
            &format!(
                "user + system of the process (both ends), {} MiB a transfer",
                bytes >> 20
            ),
        );
    }
    table.row(
        "6 cpu",
        "ratio of CPU per GB: ours / kernel",
        &format!("{:.2}", median(&cpu[0]) / median(&cpu[1])),
        "×",
        plan.rounds,
        "",
        "lower is cheaper",
    );
    for (k, how) in [
        "RACK-TLP with SACK and PRR (recovery.fsm)",
        "fast retransmit and NewReno, no SACK (examples/specs/recovery/newreno.fsm)",
        "RACK-TLP, and a window from a model of the path (examples/specs/congestion/bbr.fsm)",
    ]
    .into_iter()
    .enumerate()
    {
        table.row(
            "6 loss",
            &format!("(b) ours, 1% of datagrams lost each way, {how}"),
            &num(median(&lossy[k])),
            "MB/s",
            plan.rounds,
            "",
            &format!(
                "fault injection on both endpoints; {} MiB a transfer",
                (bytes / 4) >> 20
            ),
        );
    }
    table.row(
        "6 loss",
        "ratio of goodput at 1% loss: recovery.fsm / newreno.fsm",
        &format!("{:.2}", median(&lossy[0]) / median(&lossy[1])),
        "×",
        plan.rounds,
        "",
        "the same seeds for both",
    );
    table.row(
        "6 loss",
        "(d) kernel TCP, 1% lost",
        "–",
        "",
        0,
        "",
        "not comparable here: this kernel has no netem to drop loopback packets",
    );
    Ok(())
}

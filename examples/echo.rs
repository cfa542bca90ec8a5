//! An echo server and client over the spec-driven TCP.
//!
//! ```text
//! cargo run --release --example echo -- --listen 127.0.0.1:7000
//! cargo run --release --example echo -- --connect 127.0.0.1:7000 --bytes 1000000
//! cargo run --release --example echo -- --connect 127.0.0.1:7000 --spec my.fsm --trace-json steps.jsonl
//! ```
//!
//! The server prints one line per state transition and serves each client
//! on its own thread: it echoes every byte and, once the client has closed
//! its side and everything is echoed, closes its own (CLOSE_WAIT ->
//! LAST_ACK -> CLOSED). The client sends its message or N bytes while
//! reading the echo, closes, and exits 0 only if every byte came back
//! intact and the connection closed cleanly (ended in the spec's initial
//! state, CLOSED in tcp.fsm). Either side can run another spec (`--spec`)
//! than its peer.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Parser};
use fsm_examples::trace_json::TraceJson;
use fsm_examples::{parse_ip, parse_v4};
use fsm_runtime::cc::Congestion;
use fsm_runtime::fault::FaultConfig;
use fsm_runtime::recovery::Recovery;
use fsm_runtime::vocab::Machine;
use fsm_runtime::{Config, Endpoint, Options, Stream};

#[derive(Parser)]
#[command(
    version,
    about = "Echo server and client over the spec-driven TCP (IPv4 in UDP)"
)]
#[command(group(ArgGroup::new("mode").required(true).args(["listen", "connect"])))]
#[command(group(ArgGroup::new("payload").args(["message", "bytes"])))]
struct Args {
    /// Serve on this UDP address (also the inner address, unless --inner-addr).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_v4)]
    listen: Option<SocketAddrV4>,
    /// Connect to this inner address (the UDP peer too, unless --udp-peer).
    #[arg(long, value_name = "IP:PORT", value_parser = parse_v4)]
    connect: Option<SocketAddrV4>,
    /// Our inner IPv4 address, if not the UDP socket's.
    #[arg(long, value_name = "IP", value_parser = parse_ip)]
    inner_addr: Option<Ipv4Addr>,
    /// Send the datagrams here instead of to the --connect address.
    #[arg(long, value_name = "IP:PORT", value_parser = parse_v4)]
    udp_peer: Option<SocketAddrV4>,
    /// Client: the text to send.
    #[arg(long)]
    message: Option<String>,
    /// Client: send this many pseudo-random bytes.
    #[arg(long, value_name = "N")]
    bytes: Option<usize>,
    /// Write every inner packet sent and received to this pcap file.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Maximum segment lifetime in milliseconds (TIME_WAIT lasts twice this).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    msl_ms: u64,
    /// Fault injection on what we send, e.g. `loss=0.1,dup=0.05,reorder=0.1,seed=7`.
    #[arg(long, value_name = "SPEC")]
    faults: Option<FaultConfig>,
    /// Client: give up after this many seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    timeout: u64,
    /// Server: stop after serving this many clients (default: run until killed).
    #[arg(long, value_name = "N")]
    clients: Option<usize>,
    /// Run the machine of this spec file instead of tcp.fsm compiled in.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Run the congestion machine of this spec file instead of
    /// congestion.fsm (NewReno) compiled in, e.g.
    /// examples/specs/congestion/tahoe.fsm.
    #[arg(long, value_name = "FILE")]
    cc_spec: Option<PathBuf>,
    /// The congestion machine: `--cc-spec`'s, or NewReno.
    #[arg(skip)]
    congestion: Congestion,
    /// Run the recovery machine of this spec file instead of
    /// recovery.fsm (RACK-TLP) compiled in, e.g.
    /// examples/specs/recovery/newreno.fsm.
    #[arg(long, value_name = "FILE")]
    recovery_spec: Option<PathBuf>,
    /// The recovery machine: `--recovery-spec`'s, or RACK-TLP.
    #[arg(skip)]
    recovery: Recovery,
    /// Write every event raised to this file, one JSON object a line
    /// (docs/trace-json.md).
    #[arg(long, value_name = "FILE")]
    trace_json: Option<PathBuf>,
    /// Stream every event and segment, as JSON lines, to a watcher at
    /// this address (`fsm serve`'s watch port, e.g. 127.0.0.1:7879).
    #[arg(long, value_name = "IP:PORT")]
    watch: Option<std::net::SocketAddr>,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(path) = &args.cc_spec {
        match fsm_examples::spec::congestion("echo", path) {
            Some(c) => args.congestion = c,
            None => return ExitCode::FAILURE,
        }
    }
    if let Some(path) = &args.recovery_spec {
        match fsm_examples::spec::recovery("echo", path) {
            Some(r) => args.recovery = r,
            None => return ExitCode::FAILURE,
        }
    }
    match &args.spec {
        None => run(&args, fsm_runtime::tcp::Spec),
        Some(path) => match fsm_examples::spec::load("echo", path) {
            Some(machine) => run(&args, machine),
            None => ExitCode::FAILURE,
        },
    }
}

fn run<M: Machine>(args: &Args, machine: M) -> ExitCode {
    let Ok(trace) = TraceJson::open("echo", args.trace_json.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let result = if let Some(addr) = args.listen {
        serve(args, &machine, trace.as_ref(), addr)
    } else if let Some(remote) = args.connect {
        client(args, &machine, trace.as_ref(), remote)
    } else {
        unreachable!("clap requires --listen or --connect")
    };
    if let Err(e) = &result {
        eprintln!("echo: {e}");
    }
    let whole = trace.as_ref().is_none_or(|t| t.report("echo"));
    if result.is_ok() && whole {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn options<M: Machine>(
    args: &Args,
    machine: &M,
    trace: Option<&TraceJson>,
    side: &str,
    print_transitions: bool,
) -> Options {
    let mut o = Options::with_config(Config {
        congestion: args.congestion.clone(),
        recovery: args.recovery.clone(),
        ..Config::loopback(Duration::from_millis(args.msl_ms))
    });
    o.inner_addr = args.inner_addr;
    o.pcap = args.pcap.clone();
    o.faults = args.faults.unwrap_or_default();
    if print_transitions {
        // The three machines. transitions, the side machines. marked.
        o.on_transition = Some(Box::new(|e| println!("{e}")));
        o.on_cc_transition = Some(Box::new(|e| println!("{e}  [congestion]")));
        o.on_rec_transition = Some(Box::new(|e| println!("{e}  [recovery]")));
    }
    o.on_step = trace.map(|t| t.sink(machine, side));
    o.on_cc_step = trace.map(|t| t.cc_sink(&args.congestion, side));
    o.watch = args.watch.map(|a| fsm_runtime::watch::Watch::new(a, side));
    o
}

fn serve<M: Machine>(
    args: &Args,
    machine: &M,
    trace: Option<&TraceJson>,
    addr: SocketAddrV4,
) -> std::io::Result<()> {
    let endpoint = Endpoint::bind_spec(
        machine.clone(),
        addr,
        options(args, machine, trace, "server", true),
    )?;
    let listener = endpoint.listen(addr.port(), 128)?;
    println!(
        "echo: listening on udp {} (inner {}); spec {}",
        endpoint.local_addr()?,
        listener.local_addr()?,
        fsm_examples::spec::name(args.spec.as_deref())
    );
    let mut served = 0;
    std::thread::scope(|scope| -> std::io::Result<()> {
        while args.clients.is_none_or(|n| served < n) {
            let (stream, peer) = listener.accept()?;
            served += 1;
            scope.spawn(move || match echo_one(stream) {
                Ok(n) => println!("echo: {n} bytes echoed to {peer}"),
                Err(e) => println!("echo: client {peer}: {e}"),
            });
        }
        Ok(())
    })?;
    let c = endpoint.counters();
    println!("echo: served {served} clients; {c}");
    Ok(())
}

/// Echoes until the client's FIN, then closes our side.
fn echo_one<M: Machine>(mut stream: Stream<M>) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
    stream.flush()?;
    stream.close(Duration::from_secs(30))?;
    Ok(total)
}

fn client<M: Machine>(
    args: &Args,
    machine: &M,
    trace: Option<&TraceJson>,
    remote: SocketAddrV4,
) -> std::io::Result<()> {
    let payload: Vec<u8> = match (&args.message, args.bytes) {
        (Some(m), _) => m.clone().into_bytes(),
        (None, Some(n)) => pseudo_random(n),
        (None, None) => b"hello".to_vec(),
    };
    let udp_peer = args.udp_peer.unwrap_or(remote);
    let bind = SocketAddrV4::new(
        if udp_peer.ip().is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            Ipv4Addr::UNSPECIFIED
        },
        0,
    );
    let endpoint = Endpoint::bind_spec(
        machine.clone(),
        bind,
        options(args, machine, trace, "client", false),
    )?;
    let started = Instant::now();
    let timeout = Duration::from_secs(args.timeout);
    let stream = endpoint.connect_via(remote.into(), udp_peer.into(), timeout)?;
    // Write and read at once, or both sides' buffers fill and stall.
    let echoed = std::thread::scope(|scope| {
        let writer = scope.spawn(|| -> std::io::Result<()> {
            (&stream).write_all(&payload)?;
            stream.shutdown(Shutdown::Write)
        });
        let mut back = Vec::with_capacity(payload.len());
        let read = (&stream).read_to_end(&mut back);
        let wrote = writer
            .join()
            .map_err(|_| std::io::Error::other("writer panicked"))?;
        wrote.and(read).map(|_| back)
    })?;
    let final_state = stream.wait_finished(Duration::from_millis(4 * args.msl_ms) + timeout)?;
    let elapsed = started.elapsed();
    let intact = echoed == payload;
    println!(
        "echo: {} of {} bytes echoed {} in {:.3}s; final state {final_state}",
        echoed.len(),
        payload.len(),
        if intact { "intact" } else { "CORRUPTED" },
        elapsed.as_secs_f64()
    );
    if !intact {
        return Err(std::io::Error::other("the echo differs from what was sent"));
    }
    if final_state != machine.initial() || stream.error().is_some() {
        return Err(std::io::Error::other(format!(
            "the connection did not close cleanly (state {final_state}, error {:?})",
            stream.error()
        )));
    }
    Ok(())
}

/// Deterministic bytes that do not repeat with a short period.
fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

//! A client and a server in one process, over loopback UDP: the client
//! connects, sends a line, reads the answer and closes; the server echoes
//! and closes after it. Prints both transition traces side by side and
//! how far each side followed the numbered paths the spec declares
//! (tcp.fsm: client ①-⑦, server [1]-[7]).
//!
//! Exits 0 when the line came back intact and both ends closed (ended in
//! the spec's initial state, CLOSED in tcp.fsm). A run that leaves the
//! spec's paths is reported, not failed: a variant spec may well close
//! another way.
//!
//! ```text
//! cargo run --release --example handshake
//! cargo run --release --example handshake -- --spec my.fsm --trace-json steps.jsonl
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;
use fsm_examples::Timeline;
use fsm_examples::paths::{self, Progress};
use fsm_examples::trace_json::TraceJson;
use fsm_runtime::cc::Congestion;
use fsm_runtime::recovery::Recovery;
use fsm_runtime::vocab::Machine;
use fsm_runtime::watch::Watch;
use fsm_runtime::{Config, Endpoint, Options, Stream};

/// Run a TCP handshake, a little data and a close between two endpoints in
/// this process, and show the state machine's steps on both sides.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Maximum segment lifetime in milliseconds; TIME_WAIT lasts twice this.
    #[arg(long, default_value_t = 250)]
    msl_ms: u64,
    /// Write the inner packets of both sides to this pcap file.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Run the machine of this spec file instead of tcp.fsm compiled in.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Write every event raised on both sides to this file, one JSON
    /// object a line (docs/trace-json.md).
    #[arg(long, value_name = "FILE")]
    trace_json: Option<PathBuf>,
    /// Stream every event and segment, as JSON lines, to a watcher at
    /// this address (`fsm serve`'s watch port, e.g. 127.0.0.1:7879).
    #[arg(long, value_name = "IP:PORT")]
    watch: Option<std::net::SocketAddr>,
    /// Run the congestion machine of this spec file instead of
    /// congestion.fsm (NewReno) compiled in.
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
}

const MESSAGE: &[u8] = b"hello over a spec-driven TCP\n";

/// How long a connect, an accept or a read may wait.
const WAIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(path) = &args.cc_spec {
        match fsm_examples::spec::congestion("handshake", path) {
            Some(c) => args.congestion = c,
            None => return ExitCode::FAILURE,
        }
    }
    if let Some(path) = &args.recovery_spec {
        match fsm_examples::spec::recovery("handshake", path) {
            Some(r) => args.recovery = r,
            None => return ExitCode::FAILURE,
        }
    }
    match &args.spec {
        None => run(&args, fsm_runtime::tcp::Spec),
        Some(path) => match fsm_examples::spec::load("handshake", path) {
            Some(machine) => run(&args, machine),
            None => ExitCode::FAILURE,
        },
    }
}

/// What one side saw: the bytes it read and the state it ended in, or
/// what went wrong first.
type Side<M> = Result<(Vec<u8>, <M as Machine>::State), String>;

fn run<M: Machine>(args: &Args, machine: M) -> ExitCode {
    let Ok(trace) = TraceJson::open("handshake", args.trace_json.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let (timeline, client, server) = match exchange(args, &machine, trace.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("handshake: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", timeline.render(&machine));
    println!();

    let mut ok = true;
    match &client {
        Ok((answer, state)) => {
            let intact = answer == MESSAGE;
            println!(
                "client read back {:?} ({}); final state {state}",
                String::from_utf8_lossy(answer).trim_end(),
                if intact { "intact" } else { "NOT what it sent" }
            );
            ok &= intact;
        }
        Err(e) => {
            println!("client: {e}");
            ok = false;
        }
    }
    match &server {
        Ok((line, state)) => println!(
            "server read {} bytes, echoed them; final state {state}",
            line.len()
        ),
        Err(e) => {
            println!("server: {e}");
            ok = false;
        }
    }
    for (name, side) in [("client", &client), ("server", &server)] {
        if let Ok((_, state)) = side
            && *state != machine.initial()
        {
            println!(
                "{name} did not close: it ended in {state}, not {}",
                machine.initial()
            );
            ok = false;
        }
    }

    let finals: Vec<M::State> = [&client, &server]
        .into_iter()
        .filter_map(|s| s.as_ref().ok().map(|(_, state)| *state))
        .collect();
    let report = path_report(&machine, &timeline, &finals);
    println!();
    for line in &report {
        println!("{line}");
    }

    if let Some(t) = &trace {
        ok &= t.report("handshake");
    }
    println!(
        "\n{}",
        if ok {
            format!(
                "ok: the data came back intact and both ends closed ({})",
                machine.initial()
            )
        } else {
            "failed: see above".to_owned()
        }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The client connects, sends [`MESSAGE`], closes its side and reads the
/// answer; the server reads until the client's FIN, echoes and closes.
/// Every wait is bounded, so a spec that never opens or never closes
/// makes a report, not a hang.
fn exchange<M: Machine>(
    args: &Args,
    machine: &M,
    trace: Option<&TraceJson>,
) -> io::Result<(Timeline, Side<M>, Side<M>)> {
    let timeline = Arc::new(Mutex::new(
        Timeline::new(Instant::now(), "client", "server")
            .with_paths([Some("client"), Some("server")]),
    ));
    let msl = Duration::from_millis(args.msl_ms);
    let endpoint = |column: usize, pcap: Option<PathBuf>| {
        let mut options = Options::with_config(Config {
            congestion: args.congestion.clone(),
            recovery: args.recovery.clone(),
            ..Config::loopback(msl)
        });
        options.pcap = pcap;
        let timeline = timeline.clone();
        options.on_transition = Some(Box::new(move |e| {
            timeline
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(column, e.clone());
        }));
        options.on_step = trace.map(|t| t.sink(machine, ["client", "server"][column]));
        options.on_cc_step =
            trace.map(|t| t.cc_sink(&args.congestion, ["client", "server"][column]));
        options.watch = args
            .watch
            .map(|a| Watch::new(a, ["client", "server"][column]));
        Endpoint::bind_spec(
            machine.clone(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            options,
        )
    };
    let server = endpoint(1, args.pcap.clone())?;
    let client = endpoint(0, None)?;
    println!(
        "client {} and server {} exchange IPv4 packets in UDP datagrams; TIME_WAIT = 2*MSL = {} ms; spec {}\n",
        client.local_addr()?,
        server.local_addr()?,
        2 * args.msl_ms,
        fsm_examples::spec::name(args.spec.as_deref())
    );
    // Long enough for TIME_WAIT and a few retransmissions.
    let closing = msl * 4 + WAIT;

    let listener = server.listen(server.local_addr()?.port(), 1)?;
    let serving = std::thread::spawn(move || -> Side<M> {
        let (mut conn, _) = listener
            .accept_timeout(WAIT)
            .map_err(|e| format!("accept: {e}"))?;
        conn.set_read_timeout(Some(WAIT))
            .map_err(|e| format!("read timeout: {e}"))?;
        let mut line = Vec::new();
        conn.read_to_end(&mut line) // until the client's FIN
            .map_err(|e| format!("read: {e} (in {})", state_of(&conn)))?;
        conn.write_all(&line)
            .map_err(|e| format!("write: {e} (in {})", state_of(&conn)))?;
        let state = close(&conn, closing)?;
        Ok((line, state))
    });

    let talk = || -> Side<M> {
        let mut conn = client
            .connect(server.local_addr().map_err(|e| e.to_string())?, WAIT)
            .map_err(|e| format!("connect: {e}"))?;
        conn.set_read_timeout(Some(WAIT))
            .map_err(|e| format!("read timeout: {e}"))?;
        conn.write_all(MESSAGE)
            .map_err(|e| format!("write: {e} (in {})", state_of(&conn)))?;
        let mut answer = Vec::new();
        conn.shutdown(Shutdown::Write)
            .map_err(|e| format!("close: {e} (in {})", state_of(&conn)))?;
        conn.read_to_end(&mut answer)
            .map_err(|e| format!("read: {e} (in {})", state_of(&conn)))?;
        let state = close(&conn, closing)?;
        Ok((answer, state))
    };
    let talked = talk();
    let served = serving
        .join()
        .unwrap_or_else(|_| Err("the server thread panicked".to_owned()));
    drop((client, server));
    let timeline = std::mem::replace(
        &mut *timeline.lock().unwrap_or_else(PoisonError::into_inner),
        Timeline::new(Instant::now(), "", ""),
    );
    Ok((timeline, talked, served))
}

/// Closes our side (if not yet) and waits until the connection is gone.
fn close<M: Machine>(conn: &Stream<M>, timeout: Duration) -> Result<M::State, String> {
    conn.shutdown(Shutdown::Write)
        .map_err(|e| format!("close: {e} (in {})", state_of(conn)))?;
    conn.wait_finished(timeout).map_err(|e| {
        format!(
            "did not close within {:.1} s: {e}; still in {}",
            timeout.as_secs_f64(),
            state_of(conn)
        )
    })
}

fn state_of<M: Machine>(conn: &Stream<M>) -> String {
    conn.state()
        .map_or_else(|| "no state".to_owned(), |s| s.to_string())
}

/// One line per side and numbered path of the spec: how far the side
/// followed it. A path named like a side is that side's; another path is
/// held against the side that took most of its steps.
fn path_report<M: Machine>(machine: &M, timeline: &Timeline, finals: &[M::State]) -> Vec<String> {
    let sides = ["client", "server"];
    let declared = paths::declared(machine, finals);
    if declared.is_empty() {
        return vec!["the spec declares no numbered paths".to_owned()];
    }
    let mut lines = Vec::new();
    for path in &declared {
        let progress =
            |column: usize| Progress::of(machine, sides[column], path, timeline.column(column));
        if let Some(column) = sides.iter().position(|&s| s == path.name) {
            lines.push(progress(column).to_string());
            continue;
        }
        let taken = |column: usize| {
            timeline
                .column(column)
                .filter(|e| e.step(path.name).is_some())
                .count()
        };
        match (taken(0), taken(1)) {
            (0, 0) => lines.push(format!(
                "path {}: neither side took any of its {} steps",
                path.name, path.steps
            )),
            (a, b) if a >= b => lines.push(progress(0).to_string()),
            _ => lines.push(progress(1).to_string()),
        }
    }
    lines
}

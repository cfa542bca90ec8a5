//! The performance suite: one command, one table.
//!
//! ```text
//! cargo run --release --example perf              # everything (1-3 minutes)
//! cargo run --release --example perf -- --quick   # a short run (under ~2 minutes)
//! cargo run --release --example perf -- --only bulk,conns
//! ```
//!
//! Sections (one command, one table; loopback only):
//!
//! 1. `generator`: parse + check + generate (tokens, unformatted) for
//!    tcp.fsm and generated specs of 1,000 / 10,000 / 64,000 / 100,000
//!    transitions (the generator numbers rows with `u16`, so 100,000 is
//!    parse + check only), with the growth exponent; `macro`: the rebuild
//!    time of a fixture crate using `fsm!("tcp.fsm")` against the same crate
//!    with the generated code pasted in (examples/perf-fixtures/).
//! 2. `dispatch`: ns per event for the generated `step`, the typestate API
//!    and a hand-written `match`.
//! 3. `bulk`: one-way bulk transfer over loopback: raw UDP (one system call
//!    per datagram, and batched as the runtime batches), our runtime,
//!    smoltcp to smoltcp over the same IPv4-in-UDP encapsulation, and the
//!    kernel's TCP.
//! 4. `conns`: connections per second (handshake, 1 KiB each way, close),
//!    sequential and 64 in parallel, ours against the kernel's.
//! 5. `scale`: 10,000 concurrent connections on one endpoint: time to open,
//!    memory per idle connection, time to close (each run in a fresh child
//!    process, so that its RSS is its own).
//! 6. `latency`: a 1-byte ping-pong (round trips per second, p50, p99),
//!    CPU seconds per GB of bulk transfer, and bulk with 1% loss; each
//!    beside the kernel's TCP.
//! 7. `cores`: two endpoint pairs side by side against one, for the
//!    connection rate and aggregate bulk.
//! 8. `async`: the async API against tokio's own `TcpStream`, both on a
//!    tokio runtime: bulk goodput and a 1-byte ping-pong.
//!
//! Generator sizes and scale runs run in child processes (this binary with
//! a hidden `--child-…` option) that the parent kills when their time is
//! up. Progress goes to stderr; stdout gets the machine and one Markdown
//! table. Every loop that sends is bounded in count and in time.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

#[path = "perf/asynch.rs"]
mod asynch;
#[path = "perf/bulk.rs"]
mod bulk;
#[path = "perf/conns.rs"]
mod conns;
#[path = "perf/cores.rs"]
mod cores;
#[path = "perf/dispatch.rs"]
mod dispatch;
#[path = "perf/generator.rs"]
mod generator;
#[path = "perf/latency.rs"]
mod latency;
#[path = "perf/relay.rs"]
mod relay;
#[path = "perf/smol.rs"]
mod smol;
#[path = "perf/table.rs"]
mod table;

use table::Table;

/// The sections, in the order they run.
const SECTIONS: [&str; 10] = [
    "generator",
    "macro",
    "dispatch",
    "bulk",
    "conns",
    "scale",
    "latency",
    "cores",
    "async",
    "relay",
];

#[derive(Parser, Debug)]
#[command(
    about = "Performance suite: generator, dispatch, bulk transfer, connection rate, scale (loopback only)",
    after_help = "Sections: generator, macro, dispatch, bulk, conns, scale, latency, cores, async, relay (default: all; relay needs root).\n\
                  Progress goes to stderr; stdout gets the machine and one Markdown table."
)]
struct Args {
    /// A short run: fewer repetitions, 32 MiB transfers, smaller counts.
    #[arg(long)]
    quick: bool,
    /// Run only these sections (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "SECTION")]
    only: Vec<String>,
    /// Skip these sections (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "SECTION")]
    skip: Vec<String>,
    /// Bytes per bulk transfer, in MiB (default 256, --quick 32).
    #[arg(long, value_name = "MIB")]
    mib: Option<usize>,
    /// Repetitions of each network measurement (default 5, --quick 3).
    #[arg(long, value_name = "N")]
    rounds: Option<usize>,
    /// Bulk transports to run (comma-separated keys: a, b, b', c, c', d,
    /// d'; default all).
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    transports: Vec<String>,
    /// Concurrent connections for the scale section (default 10000).
    #[arg(long, value_name = "N")]
    scale: Option<usize>,
    /// Target directory for the fixture crates' builds (kept between runs
    /// so that only the first run builds their dependencies).
    #[arg(long, value_name = "DIR")]
    fixture_target: Option<std::path::PathBuf>,
    /// Internal: run the generator on one spec in this process and print
    /// one line per repetition (the parent bounds it in time).
    #[arg(long, hide = true, value_name = "TRANSITIONS")]
    child_generate: Option<usize>,
    /// Internal: repetitions for --child-generate.
    #[arg(long, hide = true, default_value_t = 1)]
    child_reps: usize,
    /// Internal: run one scale measurement with this many connections in
    /// this process and print it as one line.
    #[arg(long, hide = true, value_name = "N")]
    child_scale: Option<usize>,
    /// Internal: time limit of --child-scale, seconds.
    #[arg(long, hide = true, default_value_t = 60)]
    child_limit: u64,
}

/// How much of everything to do.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    /// Bytes per bulk transfer.
    pub bulk_bytes: usize,
    /// Rounds of each network measurement.
    pub rounds: usize,
    /// Time limit of one transfer.
    pub bulk_limit: Duration,
    /// Connections for the sequential connection-rate test.
    pub seq_conns: usize,
    /// Connections for the parallel test (64 at a time).
    pub par_conns: usize,
    /// Time limit of one connection-rate test.
    pub conn_limit: Duration,
    /// Concurrent connections for the scale test.
    pub scale: usize,
    /// Bulk transports to run (empty: all).
    pub transports: Vec<String>,
    pub fixture_target: std::path::PathBuf,
}

fn main() -> ExitCode {
    // A race's sender or receiver, inside a namespace (section relay).
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(relay::CHILD) {
        return match fsm_lab::race::child(&argv[2..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("perf {}: {e}", relay::CHILD);
                ExitCode::FAILURE
            }
        };
    }
    let args = Args::parse();
    if let Some(n) = args.child_generate {
        return generator::child(n, args.child_reps);
    }
    if let Some(n) = args.child_scale {
        return conns::scale_child(n, Duration::from_secs(args.child_limit));
    }
    for s in args.only.iter().chain(&args.skip) {
        if !SECTIONS.contains(&s.as_str()) {
            eprintln!(
                "unknown section `{s}`; the sections are {}",
                SECTIONS.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let wanted = |s: &str| {
        (args.only.is_empty() || args.only.iter().any(|o| o == s))
            && !args.skip.iter().any(|o| o == s)
    };
    let quick = args.quick;
    let plan = Plan {
        quick,
        bulk_bytes: args.mib.unwrap_or(if quick { 32 } else { 256 }) << 20,
        rounds: args.rounds.unwrap_or(if quick { 3 } else { 5 }).max(1),
        bulk_limit: Duration::from_secs(if quick { 20 } else { 60 }),
        seq_conns: if quick { 1_000 } else { 5_000 },
        par_conns: if quick { 3_200 } else { 12_800 },
        conn_limit: Duration::from_secs(if quick { 5 } else { 20 }),
        scale: args.scale.unwrap_or(10_000),
        transports: args.transports.clone(),
        fixture_target: args.fixture_target.clone().unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/perf-fixtures")
        }),
    };

    let start = Instant::now();
    let mut table = Table::default();
    let mut timings = Vec::new();
    for section in SECTIONS {
        if !wanted(section) {
            continue;
        }
        let t = Instant::now();
        eprintln!("== {section}");
        let r = match section {
            "generator" => generator::generator(&plan, &mut table),
            "macro" => generator::macro_build(&plan, &mut table),
            "dispatch" => dispatch::run(&plan, &mut table),
            "bulk" => bulk::run(&plan, &mut table),
            "conns" => conns::rate(&plan, &mut table),
            "scale" => conns::scale(&plan, &mut table),
            "latency" => latency::run(&plan, &mut table),
            "cores" => cores::run(&plan, &mut table),
            "async" => asynch::run(&plan, &mut table),
            "relay" => relay::run(&plan, &mut table),
            _ => unreachable!(),
        };
        if let Err(e) = r {
            eprintln!("{section}: failed: {e}");
            table.row(section, "failed", "–", "", 0, "", &e.to_string());
        }
        timings.push(format!("{section} {:.0} s", t.elapsed().as_secs_f64()));
        eprintln!("== {section}: {:.1} s", t.elapsed().as_secs_f64());
    }

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", machine());
    let _ = writeln!(
        out,
        "Run: `cargo run --release --example perf{}`, {} rounds per network figure, {} MiB per transfer; took {:.0} s ({}).\n",
        if quick { " -- --quick" } else { "" },
        plan.rounds,
        plan.bulk_bytes >> 20,
        start.elapsed().as_secs_f64(),
        timings.join(", ")
    );
    let _ = write!(out, "{}", table.render());
    ExitCode::SUCCESS
}

/// Runs this program again with `args`, passing each line it prints to
/// `on_line`, for at most `budget` (then kills it). Returns whether the
/// budget ran out, and whether the child succeeded.
pub fn run_self(
    args: &[String],
    budget: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<(bool, bool), String> {
    use std::io::BufRead as _;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + budget;
    let mut cut = false;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => on_line(&line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                cut = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = reader.join();
    Ok((cut, status.success()))
}

/// The machine, as Markdown lines.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mhz = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("cpu MHz")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
    format!(
        "Machine: `nproc` {nproc}; CPU `{model}`{}; kernel {}; memory {mem}; {rustc}.",
        if mhz.is_empty() {
            String::new()
        } else {
            format!(" at {mhz} MHz")
        },
        kernel.trim()
    )
}

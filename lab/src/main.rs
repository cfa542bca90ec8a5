//! `fsm-lab`: specs compared side by side under simulated networks, and
//! captures held against a spec.
//!
//! ```text
//! fsm-lab compare tcp.fsm examples/specs/no_time_wait.fsm --seeds 1000 --loss 0.1
//! fsm-lab replay tcp.fsm capture.pcap --side 10.199.0.1
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use fsm_lab::compare::{Options, Subject, compare, write_heat_maps};
use fsm_lab::sim::{Faults, Mode, Network, Setup};
use fsm_runtime::cc::Congestion;

#[derive(Parser)]
#[command(
    name = "fsm-lab",
    about = "Specs of the TCP runtime compared under simulated networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the same seeds and network under each spec and prints one
    /// table, the specs as columns.
    Compare(CompareArgs),
    /// Holds a capture (pcap or pcapng) against a spec, connection by
    /// connection, as seen from one side: the first segment the spec does
    /// not allow, or the states each connection went through. Exits with
    /// 1 when a connection disagrees, 2 when the input cannot be read.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The spec file.
    spec: PathBuf,
    /// The capture file (tshark: `-F pcap`, or pcapng).
    capture: PathBuf,
    /// The side to replay, IP:PORT or IP (default: the receiver of the
    /// first SYN without ACK).
    #[arg(long, value_name = "IP[:PORT]")]
    side: Option<fsm_lab::replay::Side>,
    /// Prints the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// The client sends and closes, the server echoes and closes.
    Echo,
    /// Each side sends its own data, closes, and reads only a while later.
    SlowReaders,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Spec files (two or more); the first is the one the others are
    /// compared against.
    #[arg(required = true, num_args = 2..)]
    specs: Vec<String>,
    /// Seeds 0..N.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// Probability that a datagram is lost.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,
    /// Probability that a datagram is duplicated.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dup: f64,
    /// Probability that a datagram is held back behind later ones.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,
    /// Probability that a datagram has a bit flipped.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    corrupt: f64,
    /// One-way latency, in milliseconds.
    #[arg(long, default_value_t = 10)]
    delay: u64,
    /// Up to this much more delay per datagram, in milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter: u64,
    /// The link goes down for this long, in milliseconds, from a moment
    /// drawn per seed in the first 3 s.
    #[arg(long, default_value_t = 0)]
    outage: u64,
    /// Bytes the client sends.
    #[arg(long, default_value_t = 40_000)]
    bytes: usize,
    /// What the applications do.
    #[arg(long, value_enum, default_value_t = ModeArg::Echo)]
    mode: ModeArg,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Writes per-spec heat-map data (pairs fired, states reached) here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The congestion spec every run uses (default: congestion.fsm,
    /// NewReno, compiled in), e.g. examples/specs/congestion/tahoe.fsm.
    #[arg(long, value_name = "FILE")]
    cc_spec: Option<PathBuf>,
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        Ok(_) => Err("a probability is between 0 and 1".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// Prints why a spec was refused (its diagnostics, file:line:col).
fn refused(e: impl std::fmt::Display) -> ExitCode {
    let text = e.to_string();
    eprint!("{text}");
    if !text.ends_with('\n') {
        eprintln!();
    }
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Compare(args) => run_compare(&args),
        Command::Replay(args) => run_replay(&args),
    }
}

fn run_replay(args: &ReplayArgs) -> ExitCode {
    use fsm_lab::replay::{Capture, replay};
    let machine = match fsm_runtime::loaded::Loaded::load(&args.spec) {
        Ok(m) => m,
        Err(e) => {
            refused(e);
            return ExitCode::from(2);
        }
    };
    let report = Capture::read_file(&args.capture).and_then(|c| replay(&machine, &c, args.side));
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        println!("{:#}", report.to_json());
    } else {
        print!("{report}");
    }
    if report.agrees() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run_compare(args: &CompareArgs) -> ExitCode {
    let mut subjects = Vec::new();
    for path in &args.specs {
        match Subject::load(path) {
            Ok(s) => subjects.push(s),
            Err(e) => return refused(e),
        }
    }
    let congestion = match args.cc_spec.as_deref().map(Congestion::load).transpose() {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let options = Options {
        seeds: args.seeds,
        setup: Setup {
            mode: match args.mode {
                ModeArg::Echo => Mode::Echo,
                ModeArg::SlowReaders => Mode::SlowReaders,
            },
            faults: Faults::Fixed(Network {
                loss: args.loss,
                duplicate: args.dup,
                reorder: args.reorder,
                corrupt: args.corrupt,
                latency: Duration::from_millis(args.delay),
                jitter: Duration::from_millis(args.jitter),
                outage: Duration::from_millis(args.outage),
            }),
            bytes: Some(args.bytes),
            whole: false,
            congestion,
        },
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        progress: true,
    };
    let report = compare(&subjects, &options);
    print!("{report}");
    if let Some(dir) = &args.out {
        match write_heat_maps(dir, &subjects, &report) {
            Ok(files) => {
                for f in files {
                    eprintln!("wrote {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

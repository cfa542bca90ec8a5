//! `fsm-lab`: specs compared side by side under simulated networks, and
//! captures held against a spec.
//!
//! ```text
//! fsm-lab compare tcp.fsm examples/specs/no_time_wait.fsm --seeds 1000 --loss 0.1
//! fsm-lab replay tcp.fsm capture.pcap --side 10.199.0.1
//! fsm-lab explore tcp.fsm --scenario echo --loss 1 --dup 1 --reorder
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use fsm_lab::compare::{Options, Subject, compare, write_heat_maps};
use fsm_lab::explore::Scenario;
use fsm_lab::sim::{Faults, Mode, Network, Setup};
use fsm_runtime::cc::Congestion;
use fsm_runtime::recovery::Recovery;

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
    /// Races the kernel's TCP and ours under loss (as root): a bulk
    /// transfer between two network namespaces it creates and removes,
    /// through a relay that drops, duplicates and reorders packets with
    /// one seeded generator, the same for both. Prints one table; `--svg`
    /// plots goodput against loss.
    Race(RaceArgs),
    /// One process of a race (run by `race` inside a namespace).
    #[command(hide = true)]
    RaceChild {
        /// ROLE STACK BYTES.
        args: Vec<String>,
    },
    /// Holds a capture (pcap or pcapng) against a spec, connection by
    /// connection, as seen from one side: the first segment the spec does
    /// not allow, or the states each connection went through. Exits with
    /// 1 when a connection disagrees, 2 when the input cannot be read.
    Replay(ReplayArgs),
    /// Explores every interleaving of a scenario between a client and a
    /// server over a network that may lose, duplicate and reorder
    /// datagrams, breadth first, holding every state to the properties;
    /// prints the figures and the shortest counterexample of each property
    /// violated. Exits with 0 when none is, 1 when one is, 2 on bad input.
    Explore(ExploreArgs),
}

#[derive(clap::Args)]
struct ExploreArgs {
    /// The client's spec (and the server's, without --peer).
    spec: PathBuf,
    /// The server's spec.
    #[arg(long, value_name = "SPEC2")]
    peer: Option<PathBuf>,
    /// What the applications do: echo, server-closes-first,
    /// simultaneous-close, simultaneous-open, abort, reuse (a replay takes
    /// its schedule's).
    #[arg(long, value_parser = scenario, required_unless_present = "replay")]
    scenario: Option<Scenario>,
    /// Datagrams the network may lose in a run.
    #[arg(long, default_value_t = 0)]
    loss: u8,
    /// Datagrams the network may duplicate in a run.
    #[arg(long, default_value_t = 0)]
    dup: u8,
    /// The network may deliver datagrams in any order.
    #[arg(long)]
    reorder: bool,
    /// Bytes each side writes of its own per connection (at most 128).
    #[arg(long, default_value_t = 1)]
    bytes: usize,
    /// The segment size both hosts announce.
    #[arg(long, default_value_t = 1)]
    mss: u16,
    /// Explores no deeper than this many moves.
    #[arg(long)]
    max_depth: Option<u32>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Writes each counterexample here: its schedule (for --replay), its
    /// sequence chart (SVG) and its replay as text.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Prints the report as JSON.
    #[arg(long)]
    json: bool,
    /// Plays a schedule file back exactly instead of exploring; exits 1
    /// when it runs into a violation or comes back to a state it passed
    /// (a non-progress cycle), else 0.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// With --replay: writes every event as a JSON line here.
    #[arg(long, value_name = "FILE", requires = "replay")]
    trace_json: Option<PathBuf>,
    /// With --replay: writes every datagram sent to this pcap file.
    #[arg(long, value_name = "FILE", requires = "replay")]
    pcap: Option<PathBuf>,
    /// With --replay: draws the schedule as a message sequence chart (SVG).
    #[arg(long, value_name = "FILE", requires = "replay")]
    svg: Option<PathBuf>,
    /// The congestion spec both hosts run (default: congestion.fsm).
    #[arg(long, value_name = "FILE")]
    cc_spec: Option<PathBuf>,
    /// The recovery spec both hosts run (default: NewReno's,
    /// examples/specs/recovery/newreno.fsm, whose state space is smaller
    /// than recovery.fsm's).
    #[arg(long, value_name = "FILE")]
    recovery_spec: Option<PathBuf>,
}

fn scenario(s: &str) -> Result<Scenario, String> {
    Scenario::named(s).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("one of {}", names.join(", "))
    })
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
    /// The recovery spec every run uses (default: recovery.fsm, RACK-TLP,
    /// compiled in), e.g. examples/specs/recovery/newreno.fsm.
    #[arg(long, value_name = "FILE")]
    recovery_spec: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct RaceArgs {
    /// Loss probabilities, each way (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [0.001, 0.01, 0.05])]
    loss: Vec<f64>,
    /// Probability a packet is sent twice.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dup: f64,
    /// Probability a packet is held back behind the next.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,
    /// Megabytes per transfer.
    #[arg(long, default_value_t = 32)]
    mb: u64,
    /// The relay's seed (the same for every transfer).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Writes the plot of goodput against loss here (SVG).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// The congestion spec our TCP runs (default: congestion.fsm,
    /// NewReno, compiled in), e.g. examples/specs/congestion/bbr.fsm.
    #[arg(long, value_name = "FILE")]
    cc_spec: Option<PathBuf>,
    /// The recovery spec our TCP runs (default: recovery.fsm, RACK-TLP,
    /// compiled in), e.g. examples/specs/recovery/newreno.fsm.
    #[arg(long, value_name = "FILE")]
    recovery_spec: Option<PathBuf>,
}

fn run_race(args: &RaceArgs) -> ExitCode {
    use fsm_lab::race::{self, Link, Stack};
    if let Some(why) = fsm_lab::netns::why_skip() {
        eprintln!("fsm-lab race: {why}");
        return ExitCode::FAILURE;
    }
    let Ok(me) = std::env::current_exe() else {
        eprintln!("fsm-lab race: cannot find this program");
        return ExitCode::FAILURE;
    };
    let stacks = [
        Stack::Ours,
        Stack::Kernel { sack: true },
        Stack::Kernel { sack: false },
    ];
    let bytes = args.mb << 20;
    // Checked here, so that a bad spec is told once, with its line.
    let checked = [
        args.cc_spec
            .as_ref()
            .map(|p| fsm_runtime::cc::Congestion::load(p).map(drop)),
        args.recovery_spec
            .as_ref()
            .map(|p| fsm_runtime::recovery::Recovery::load(p).map(drop)),
    ];
    if let Some(Err(e)) = checked.into_iter().flatten().find(Result::is_err) {
        eprintln!("fsm-lab race: {e}");
        return ExitCode::FAILURE;
    }
    let specs = race::Specs {
        congestion: args.cc_spec.clone(),
        recovery: args.recovery_spec.clone(),
    };
    let name = |p: &Option<PathBuf>, default: &str| {
        p.as_ref()
            .and_then(|p| p.file_name())
            .map_or(default.to_owned(), |n| n.to_string_lossy().into_owned())
    };
    let ours = format!(
        "ours ({}, {})",
        name(&args.cc_spec, "congestion.fsm"),
        name(&args.recovery_spec, "recovery.fsm: RACK-TLP, SACK, PRR")
    );
    println!(
        "{} MiB from A to B, MSS {}, relay seed {}, duplication {}, reordering {}; {ours}",
        args.mb,
        race::MSS,
        args.seed,
        args.dup,
        args.reorder
    );
    println!(
        "| loss each way | ours | kernel, SACK | kernel, no SACK | ours / kernel | ours / kernel without SACK |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); stacks.len()];
    for &loss in &args.loss {
        let link = Link {
            loss,
            duplicate: args.dup,
            reorder: args.reorder,
            seed: args.seed,
        };
        let mut mb_s = Vec::new();
        for (k, &stack) in stacks.iter().enumerate() {
            eprintln!("{} at {}% loss ...", stack.name(), loss * 100.0);
            match race::race(
                &me,
                &["race-child"],
                stack,
                link,
                bytes,
                Duration::from_secs(300),
                &specs,
            ) {
                Ok(o) => {
                    eprintln!(
                        "  {:.1} MB/s in {:.2} s; relay: {} packets, {} dropped",
                        o.mb_s(),
                        o.seconds,
                        o.relay.packets,
                        o.relay.dropped
                    );
                    series[k].push((loss * 100.0, o.mb_s()));
                    mb_s.push(o.mb_s());
                }
                Err(e) => {
                    eprintln!("fsm-lab race: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!(
            "| {}% | {:.1} MB/s | {:.1} MB/s | {:.1} MB/s | {:.2}× | {:.2}× |",
            loss * 100.0,
            mb_s[0],
            mb_s[1],
            mb_s[2],
            mb_s[0] / mb_s[1],
            mb_s[0] / mb_s[2]
        );
    }
    if let Some(path) = &args.svg {
        let chart = fsm_lab::plot::Chart {
            title: "Goodput under loss: our TCP and the kernel's, through the same relay".into(),
            subtitle: format!(
                "{} MiB A to B between two network namespaces, MSS {}, one seeded loss pattern each way for all",
                args.mb,
                race::MSS
            ),
            x_label: "packets lost each way (%)".into(),
            y_label: "goodput (MB/s)".into(),
            series: stacks
                .iter()
                .zip(series)
                .map(|(s, points)| fsm_lab::plot::Series {
                    name: match s {
                        Stack::Ours => ours.clone(),
                        Stack::Kernel { sack: true } => "Linux, SACK on".into(),
                        Stack::Kernel { sack: false } => "Linux, SACK off".into(),
                    },
                    points,
                })
                .collect(),
            ..Default::default()
        };
        if let Err(e) = std::fs::write(path, chart.svg()) {
            eprintln!("fsm-lab race: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The explorer copies and drops millions of small hosts: an allocator
/// made for that (about twice glibc's rate here, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// mimalloc v3's `mi_option_purge_delay` (mimalloc.h's `mi_option_e`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Each level of the explorer frees the last level's states and
    // allocates as much again: freed pages are kept for that, not given
    // back to the system after 10 ms and zeroed again when touched (a
    // fifth of the run's time went to page faults).
    // SAFETY: sets an option by its documented number; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match Cli::parse().command {
        Command::Compare(args) => run_compare(&args),
        Command::Race(args) => run_race(&args),
        Command::RaceChild { args } => match fsm_lab::race::child(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fsm-lab race-child: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Replay(args) => run_replay(&args),
        Command::Explore(args) => explore::run(&args),
    }
}

mod explore {
    use super::*;
    use fsm_lab::explore::{self as ex, Options, Report, Subject};

    /// Loads a spec, or prints its diagnostics.
    fn load(path: &std::path::Path) -> Result<Subject, ExitCode> {
        Subject::load(&path.to_string_lossy()).map_err(|e| {
            refused(e);
            ExitCode::from(2)
        })
    }

    pub(super) fn run(args: &ExploreArgs) -> ExitCode {
        match try_run(args) {
            Ok(code) | Err(code) => code,
        }
    }

    fn try_run(args: &ExploreArgs) -> Result<ExitCode, ExitCode> {
        let client = load(&args.spec)?;
        let server = match &args.peer {
            Some(p) => load(p)?,
            None => Subject::new(&client.path, client.machine.clone()),
        };
        let congestion = args
            .cc_spec
            .as_deref()
            .map(Congestion::load)
            .transpose()
            .map_err(|e| {
                refused(e);
                ExitCode::from(2)
            })?;
        let mut options = Options::new(args.scenario.unwrap_or(ex::Scenario::Echo));
        options.bytes = args.bytes;
        options.mss = args.mss;
        options.losses = args.loss;
        options.dups = args.dup;
        options.reorder = args.reorder;
        options.max_depth = args.max_depth;
        options.congestion = congestion;
        options.recovery = args
            .recovery_spec
            .as_deref()
            .map(Recovery::load)
            .transpose()
            .map_err(|e| {
                refused(e);
                ExitCode::from(2)
            })?;
        if let Some(t) = args.threads {
            options.threads = t.max(1);
        }
        let bad = |e: String| {
            eprintln!("error: {e}");
            ExitCode::from(2)
        };
        if let Some(file) = &args.replay {
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            let moves = ex::read_schedule(&text, &mut options)
                .map_err(|e| bad(format!("{}: {e}", file.display())))?;
            let played = ex::replay([&client, &server], &options, &moves).map_err(bad)?;
            print!("{played}");
            if let Some(path) = &args.trace_json {
                let text = played.trace_json([&client.machine, &server.machine]);
                std::fs::write(path, text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
                eprintln!("wrote {}", path.display());
            }
            if let Some(path) = &args.pcap {
                played
                    .write_pcap(path)
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?;
                eprintln!("wrote {}", path.display());
            }
            if let Some(path) = &args.svg {
                let title = format!(
                    "{} against {}, scenario {} ({}): {}",
                    client.path,
                    server.path,
                    options.scenario,
                    options.network(),
                    played.outcome(),
                );
                let again = format!(
                    "fsm-lab explore {} --peer {} --replay {} --svg {}",
                    client.path,
                    server.path,
                    file.display(),
                    path.display()
                );
                let svg = fsm_codegen::msc::render_with(&ex::chart(&played, &title), Some(&again));
                std::fs::write(path, svg).map_err(|e| bad(format!("{}: {e}", path.display())))?;
                eprintln!("wrote {}", path.display());
            }
            return Ok(if played.failed() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .expect("a valid template"),
        );
        let progress = |states: u64, depth: u32| {
            bar.set_message(format!("{states} states, depth {depth}"));
            bar.tick();
        };
        let report = ex::explore([&client, &server], &options, &progress).map_err(bad)?;
        bar.finish_and_clear();
        if args.json {
            println!("{:#}", json(&report));
        } else {
            print!("{report}");
        }
        if let Some(dir) = &args.out {
            write_counterexamples(dir, &report, [&client, &server]).map_err(bad)?;
        }
        Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// Per counterexample: `PROPERTY.schedule`, `PROPERTY.svg` and
    /// `PROPERTY.txt` in `dir`.
    fn write_counterexamples(
        dir: &std::path::Path,
        report: &Report,
        subjects: [&Subject; 2],
    ) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for c in &report.violations {
            for (file, text) in
                ex::counterexample_files(report, c, subjects, &dir.display().to_string())?
            {
                let path = dir.join(file);
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        Ok(())
    }

    fn json(r: &Report) -> serde_json::Value {
        serde_json::json!({
            "specs": r.specs,
            "scenario": r.options.scenario.name(),
            "bytes": r.options.bytes,
            "mss": r.options.mss,
            "loss": r.options.losses,
            "dup": r.options.dups,
            "reorder": r.options.reorder,
            "states": r.states,
            "transitions": r.transitions,
            "depth": r.depth,
            "bounded": r.bounded,
            "seconds": r.elapsed.as_secs_f64(),
            "states_per_second": r.rate(),
            "bytes_per_state": r.bytes_per_state,
            "peak_memory": r.peak_memory,
            "desired": r.desired,
            "acceptable": r.acceptable,
            "violations": r.violations.iter().map(|c| serde_json::json!({
                "property": c.violation.property.name(),
                "message": c.violation.message,
                "states": c.count,
                "schedule": c.schedule.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "untaken": {"client": r.untaken[0], "server": r.untaken[1]},
        })
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
    let recovery = match args
        .recovery_spec
        .as_deref()
        .map(Recovery::load)
        .transpose()
    {
        Ok(r) => r,
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
            recovery,
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

//! Simultaneous open and simultaneous close (RFC 9293 figures 7 and 13):
//! two endpoints connect to each other at the same moment, so both pass
//! through SYN_RCVD, and close at the same moment, so both pass through
//! CLOSING. A relay with latency makes the SYNs and the FINs cross.
//!
//! ```text
//! cargo run --release --example simultaneous
//! cargo run --release --example simultaneous -- --spec my.fsm --trace-json steps.jsonl
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fsm_examples::trace_json::TraceJson;
use fsm_runtime::vocab::Machine;

/// Show simultaneous open (through SYN_RCVD) and simultaneous close
/// (through CLOSING) between two endpoints over loopback UDP.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// One-way latency of the relay between the endpoints, in milliseconds.
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Maximum segment lifetime in milliseconds; TIME_WAIT lasts twice this.
    #[arg(long, default_value_t = 200)]
    msl_ms: u64,
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
}

fn main() -> ExitCode {
    let args = Args::parse();
    match &args.spec {
        None => run(&args, fsm_runtime::tcp::Spec),
        Some(path) => match fsm_examples::spec::load("simultaneous", path) {
            Some(machine) => run(&args, machine),
            None => ExitCode::FAILURE,
        },
    }
}

fn run<M: Machine>(args: &Args, machine: M) -> ExitCode {
    let Ok(trace) = TraceJson::open("simultaneous", args.trace_json.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let run = match fsm_examples::simultaneous(
        &machine,
        Duration::from_millis(args.msl_ms),
        Duration::from_millis(args.delay_ms),
        Duration::from_secs(5),
        trace.as_ref(),
        args.watch,
    ) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("simultaneous: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("spec {}\n", fsm_examples::spec::name(args.spec.as_deref()));
    print!("{}", run.timeline.render(&machine));
    let mut ok = true;
    for (column, name) in [(0, "A"), (1, "B")] {
        let states: Vec<&str> = run
            .timeline
            .column(column)
            .map(|e| e.transition.to)
            .collect();
        let through = |s: &str| states.contains(&s);
        println!(
            "{name}: open {:?}, received {:?}, final {:?}; through SYN_RCVD: {}, through CLOSING: {}",
            run.opened[column],
            String::from_utf8_lossy(&run.received[column]).trim_end(),
            run.finals[column].as_ref().map(ToString::to_string),
            through("SYN_RCVD"),
            through("CLOSING"),
        );
        ok &= run.opened[column].is_ok() && through("SYN_RCVD") && through("CLOSING");
        ok &= run.finals[column]
            .as_ref()
            .is_ok_and(|&s| s == machine.initial());
    }
    if let Some(t) = &trace {
        ok &= t.report("simultaneous");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

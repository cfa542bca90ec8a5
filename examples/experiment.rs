//! The same runtime driven by two specs: tcp.fsm, and a variant in
//! examples/specs/ without simultaneous open. Both ends connect to each
//! other at the same moment; with tcp.fsm the crossing SYNs meet in
//! SYN_RCVD and the connection opens, with the variant each end drops the
//! other's SYN and both connects time out. Editing the spec changed the
//! behaviour; nothing in the runtime did.
//!
//! ```text
//! cargo run --release --example experiment
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fsm_examples::trace_json::TraceJson;
use fsm_examples::{SimultaneousRun, simultaneous};
use fsm_runtime::vocab::Machine;

/// The variant spec, bound to the runtime like tcp.fsm is.
mod variant {
    fsm_runtime::machine!("specs/no_simultaneous_open.fsm");
}

/// Run a simultaneous open under tcp.fsm and under a variant spec without
/// simultaneous open, and compare what happens.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How long a connect may take before it gives up, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    open_timeout_ms: u64,
    /// One-way latency between the endpoints, in milliseconds.
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Maximum segment lifetime in milliseconds.
    #[arg(long, default_value_t = 100)]
    msl_ms: u64,
    /// Write every event of both runs to this file, one JSON object a line
    /// (docs/trace-json.md; `spec` tells the runs apart).
    #[arg(long, value_name = "FILE")]
    trace_json: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Ok(trace) = TraceJson::open("experiment", args.trace_json.as_deref()) else {
        return ExitCode::FAILURE;
    };
    let run = |title: &str, spec: &str| {
        println!("== {title} ({spec})\n");
    };
    let params = (
        Duration::from_millis(args.msl_ms),
        Duration::from_millis(args.delay_ms),
        Duration::from_millis(args.open_timeout_ms),
    );
    run("tcp.fsm", fsm_runtime::tcp::Spec::SPEC);
    let standard = match simultaneous(
        &fsm_runtime::tcp::Spec,
        params.0,
        params.1,
        params.2,
        trace.as_ref(),
        None,
    ) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    print!("{}", standard.timeline.render(&fsm_runtime::tcp::Spec));
    println!();
    run("variant without simultaneous open", variant::Spec::SPEC);
    let changed = match simultaneous(
        &variant::Spec,
        params.0,
        params.1,
        params.2,
        trace.as_ref(),
        None,
    ) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    print!("{}", changed.timeline.render(&variant::Spec));
    println!();
    println!("{:<40} {:<28} no_simultaneous_open.fsm", "", "tcp.fsm");
    let row = |what: &str, f: &dyn Fn(&dyn Summary) -> String| {
        println!("{what:<40} {:<28} {}", f(&standard), f(&changed));
    };
    row("A's connect", &|r| r.open(0));
    row("B's connect", &|r| r.open(1));
    row("transitions taken (A + B)", &|r| {
        r.transitions().to_string()
    });
    row("went through SYN_RCVD", &|r| {
        r.through("SYN_RCVD").to_string()
    });
    let mut expected =
        standard.opened.iter().all(Result::is_ok) && changed.opened.iter().all(Result::is_err);
    if let Some(t) = &trace {
        expected &= t.report("experiment");
    }
    println!(
        "\n{}",
        if expected {
            "as the specs say: only tcp.fsm completes a simultaneous open"
        } else {
            "unexpected outcome"
        }
    );
    if expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn fail(e: std::io::Error) -> ExitCode {
    eprintln!("experiment: {e}");
    ExitCode::FAILURE
}

/// What the comparison table shows of a run, whatever its machine.
trait Summary {
    fn open(&self, side: usize) -> String;
    fn transitions(&self) -> usize;
    fn through(&self, state: &str) -> bool;
}

impl<M: Machine> Summary for SimultaneousRun<M> {
    fn open(&self, side: usize) -> String {
        match &self.opened[side] {
            Ok(()) => "opened".to_owned(),
            Err(e) => e.clone(),
        }
    }

    fn transitions(&self) -> usize {
        self.timeline.column(0).count() + self.timeline.column(1).count()
    }

    fn through(&self, state: &str) -> bool {
        (0..2).all(|c| self.timeline.column(c).any(|e| e.transition.to == state))
    }
}

//! Simultaneous open and simultaneous close (RFC 9293 figures 7 and 13):
//! two endpoints connect to each other at the same moment, so both pass
//! through SYN_RCVD, and close at the same moment, so both pass through
//! CLOSING. A relay with latency makes the SYNs and the FINs cross.
//!
//! ```text
//! cargo run --release --example simultaneous
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fsm_runtime::tcp::Spec;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = match fsm_examples::simultaneous(
        &Spec,
        Duration::from_millis(args.msl_ms),
        Duration::from_millis(args.delay_ms),
        Duration::from_secs(5),
    ) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("simultaneous: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", run.timeline.render(&Spec));
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
            .is_ok_and(|s| s.to_string() == "CLOSED");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

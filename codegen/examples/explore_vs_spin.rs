//! `fsm explore` beside SPIN, in one run: each model explored by this
//! crate's explorer, then written in Promela (`fsm promela`) and searched
//! by SPIN (`spin -a`, `cc -O2 -DSAFETY`, `./pan -c0`: partial-order
//! reduction on, as SPIN runs by default). Prints one Markdown table:
//! states, time, states a second and bytes a state, each side. Needs
//! `spin` and `cc`.
//!
//! ```sh
//! cargo run --release -p fsm-codegen --example explore_vs_spin
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fsm_codegen::explore::{Network, Peer, explore};
use fsm_codegen::stats::grouped;
use fsm_codegen::tour::History;
use fsm_codegen::{Model, compile};

struct Case {
    name: &'static str,
    a: &'static str,
    b: &'static str,
    network: Network,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn model(path: &str) -> Model {
    let text = std::fs::read_to_string(root().join(path)).expect(path);
    compile(path, &text).expect(path).model
}

fn peer<'a>(m: &'a Model, name: &str) -> Peer<'a> {
    Peer {
        model: m,
        name: name.into(),
        history: History::parse(m, "passive:LISTEN/SYN_SENT")
            .ok()
            .into_iter()
            .collect(),
    }
}

/// SPIN's figures: states stored, seconds, bytes a state for the states,
/// megabytes in all.
fn spin(promela: &str, dir: &Path) -> Result<(u64, f64, f64, f64), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("model.pml"), promela).map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| -> Result<String, String> {
        let out = cmd
            .current_dir(dir)
            .output()
            .map_err(|e| format!("{cmd:?}: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr))
    };
    run(Command::new("spin").args(["-a", "model.pml"]))?;
    run(Command::new("cc").args(["-O2", "-DSAFETY", "-o", "pan", "pan.c"]))?;
    let started = Instant::now();
    let report = run(Command::new("./pan").args(["-c0", "-m10000000"]))?;
    let wall = started.elapsed().as_secs_f64();
    let before = |marker: &str| -> Option<f64> {
        let at = report.find(marker)?;
        report[..at].split_whitespace().last()?.parse().ok()
    };
    let states = before("states, stored").ok_or(format!("no states in {report}"))? as u64;
    let for_states = before("actual memory usage for states").unwrap_or(0.0);
    let total = before("total actual memory usage").unwrap_or(0.0);
    Ok((
        states,
        wall,
        for_states * 1_048_576.0 / states as f64,
        total,
    ))
}

fn main() {
    let net = |capacity, loss, duplication| Network {
        capacity,
        loss,
        duplication,
        ..Network::default()
    };
    let cases = [
        Case {
            name: "tcp.fsm, channels of 2",
            a: "tcp.fsm",
            b: "tcp.fsm",
            network: net(2, 0, 0),
        },
        Case {
            name: "tcp.fsm, loss 1, duplication 1",
            a: "tcp.fsm",
            b: "tcp.fsm",
            network: net(2, 1, 1),
        },
        Case {
            name: "tcp.fsm, loss 2, duplication 2, channels of 3",
            a: "tcp.fsm",
            b: "tcp.fsm",
            network: net(3, 2, 2),
        },
        Case {
            name: "tcp.fsm, loss 2, duplication 2, channels of 4",
            a: "tcp.fsm",
            b: "tcp.fsm",
            network: net(4, 2, 2),
        },
    ];
    println!(
        "| model | states (ours) | states (SPIN) | time ours | time SPIN | states/s ours | states/s SPIN | bytes/state ours | bytes/state SPIN (states; all) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dir = std::env::temp_dir().join(format!("fsm-explore-vs-spin-{}", std::process::id()));
    for (i, c) in cases.iter().enumerate() {
        let (ma, mb) = (model(c.a), model(c.b));
        let (a, b) = (peer(&ma, "A"), peer(&mb, "B"));
        let e = explore(&a, &b, c.network, 100_000_000);
        let promela = fsm_codegen::promela::promela(&a, &b, c.network).expect("FIFO");
        let ours_s = e.elapsed.as_secs_f64();
        match spin(&promela, &dir.join(i.to_string())) {
            Ok((states, secs, per_state, total_mb)) => println!(
                "| {} | {} | {} | {:.2} s | {:.2} s | {} | {} | {:.1} | {:.1}; {:.0} |",
                c.name,
                grouped(e.states as u64),
                grouped(states),
                ours_s,
                secs,
                grouped(e.states_per_second() as u64),
                grouped((states as f64 / secs) as u64),
                e.bytes_per_state,
                per_state,
                total_mb * 1_048_576.0 / states as f64
            ),
            Err(why) => println!(
                "| {} | {} | SPIN failed: {why} |",
                c.name,
                grouped(e.states as u64)
            ),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

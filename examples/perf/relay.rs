//! Section 10, relay: the race under loss (`fsm-lab race`, as root). A
//! bulk transfer between two network namespaces this process creates and
//! removes, through a relay dropping packets with one seeded generator, by
//! our TCP (its defaults, and with examples/specs/congestion/bbr.fsm) and
//! by the kernel's (SACK on and off), at 0.1%, 1% and 5% loss each way;
//! goodput and the ratios ours / kernel. Without root (or `ip`,
//! or TUN) the section prints why and measures nothing.

use std::time::Duration;

use fsm_lab::race::{self, Link, Specs, Stack};

use crate::Plan;
use crate::table::{Table, median, num};

/// The hidden argument under which this program runs a race's sender or
/// receiver.
pub const CHILD: &str = "--child-race";

pub fn run(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(why) = fsm_lab::netns::why_skip() {
        eprintln!("relay: skipped: {why}");
        table.row("10 relay", "skipped", "–", "", 0, "", &why);
        return Ok(());
    }
    let me = std::env::current_exe()?;
    let mib: u64 = if plan.quick { 8 } else { 32 };
    let rounds = if plan.quick { 1 } else { 3 };
    let bbr = Specs {
        congestion: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/congestion/bbr.fsm").into()),
        recovery: None,
    };
    let stacks = [
        ("ours", Stack::Ours, Specs::default()),
        ("ours, bbr.fsm", Stack::Ours, bbr),
        ("kernel", Stack::Kernel { sack: true }, Specs::default()),
        (
            "kernel-nosack",
            Stack::Kernel { sack: false },
            Specs::default(),
        ),
    ];
    for loss in [0.001, 0.01, 0.05] {
        let mut mb_s = vec![Vec::new(); stacks.len()];
        // ours / kernel, ours with bbr.fsm / kernel, ours / kernel-nosack.
        let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            let link = Link {
                loss,
                duplicate: 0.0,
                reorder: 0.0,
                seed: round as u64 + 1,
            };
            let mut this = Vec::new();
            for (k, (_, stack, specs)) in stacks.iter().enumerate() {
                let o = race::race(
                    &me,
                    &[CHILD],
                    *stack,
                    link,
                    mib << 20,
                    Duration::from_secs(300),
                    specs,
                )?;
                mb_s[k].push(o.mb_s());
                this.push(o.mb_s());
            }
            ratios[0].push(this[0] / this[2]);
            ratios[1].push(this[1] / this[2]);
            ratios[2].push(this[0] / this[3]);
        }
        let pct = format!("{}%", loss * 100.0);
        for (k, (name, _, _)) in stacks.iter().enumerate() {
            table.row(
                "10 relay",
                &format!("{name}, {pct} of packets lost each way"),
                &num(median(&mb_s[k])),
                "MB/s",
                rounds,
                "",
                &format!("{mib} MiB between two namespaces, MSS {}", race::MSS),
            );
        }
        let against = [
            "ours / kernel, SACK on",
            "ours with bbr.fsm / kernel, SACK on",
            "ours / kernel, SACK off",
        ];
        for (k, against) in against.iter().enumerate() {
            table.row(
                "10 relay",
                &format!("ratio at {pct}: {against}"),
                &format!("{:.2}", median(&ratios[k])),
                "×",
                rounds,
                "",
                "the same relay seeds for both",
            );
        }
    }
    Ok(())
}

//! `fsm-lab compare`, through the library and as a user runs the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fsm_lab::compare::{Options, Report, Subject, compare};
use fsm_lab::sim::{Faults, Mode, Network, Setup};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn subject(path: &str) -> Subject {
    Subject::load(root().join(path).to_str().expect("UTF-8 path"))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// 200 seeds at 10% loss, 10% duplication, 5 ms of jitter.
fn run(specs: &[&str]) -> Report {
    let subjects: Vec<Subject> = specs.iter().map(|s| subject(s)).collect();
    let options = Options {
        seeds: 200,
        setup: Setup {
            mode: Mode::Echo,
            faults: Faults::Fixed(Network {
                loss: 0.1,
                duplicate: 0.1,
                jitter: Duration::from_millis(5),
                ..Network::default()
            }),
            bytes: Some(20_000),
            whole: false,
            congestion: None,
            recovery: None,
        },
        threads: 2,
        progress: false,
    };
    compare(&subjects, &options)
}

fn state_time(report: &Report, spec: usize, state: &str) -> Option<Duration> {
    let i = report.names[spec].states.iter().position(|s| s == state)?;
    Some(report.tallies[spec].state_time[i])
}

fn lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsm-lab"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("fsm-lab runs")
}

#[test]
fn a_spec_against_itself_never_diverges_and_does_the_same() {
    let report = run(&["tcp.fsm", "tcp.fsm"]);
    assert!(report.divergences.iter().all(Option::is_none));
    let [a, b] = &report.tallies[..] else {
        panic!("two tallies")
    };
    assert_eq!(a.runs + a.failures, 200);
    assert_eq!(a.failures, 0, "{:?}", a.first_failure);
    assert!(a.retransmissions > 0, "the loss happened");
    assert_eq!(
        (a.runs, a.completed, &a.errors, &a.done, &a.settled),
        (b.runs, b.completed, &b.errors, &b.done, &b.settled)
    );
    assert_eq!(
        (a.segments, a.wire_bytes, a.retransmissions),
        (b.segments, b.wire_bytes, b.retransmissions)
    );
    assert_eq!((a.delivered, a.meant), (b.delivered, b.meant));
    assert_eq!(a.state_time, b.state_time);
    assert_eq!((&a.fired, &a.reached), (&b.fired, &b.reached));
}

#[test]
fn no_time_wait_diverges_where_tcp_fsm_enters_time_wait() {
    let report = run(&["tcp.fsm", "examples/specs/no_time_wait.fsm"]);
    let d = report.divergences[1].as_ref().expect("the specs diverge");
    let (first, this) = (d.first.expect("a step"), d.this.expect("a step"));
    assert_eq!(
        (first.from, first.event, first.to),
        ("FIN_WAIT_2", "rcv_fin", "TIME_WAIT")
    );
    assert_eq!(
        (this.from, this.event, this.to),
        ("FIN_WAIT_2", "rcv_fin", "CLOSED")
    );
    assert_eq!(first.at, this.at);
    assert!(state_time(&report, 0, "TIME_WAIT").is_some_and(|t| t > Duration::ZERO));
    assert_eq!(
        state_time(&report, 1, "TIME_WAIT").unwrap_or_default(),
        Duration::ZERO
    );
    for t in &report.tallies {
        assert_eq!(t.failures, 0, "{:?}", t.first_failure);
    }
    // Without TIME_WAIT, the runs settle sooner.
    let median = |k: usize| report.tallies[k].settled[report.tallies[k].settled.len() / 2];
    assert!(median(1) < median(0));
}

#[test]
fn the_binary_prints_one_table_with_the_divergence() {
    let out = lab(&[
        "compare",
        "tcp.fsm",
        "examples/specs/no_time_wait.fsm",
        "--seeds",
        "50",
        "--loss",
        "0.1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = |label: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no row {label}:\n{stdout}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("completed"), ["completed", "50", "50"]);
    assert_eq!(row("TIME_WAIT").last().map(String::as_str), Some("-"));
    assert!(
        stdout.contains("examples/specs/no_time_wait.fsm diverges from tcp.fsm first at seed 0:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FIN_WAIT_2 -rcv_fin-> TIME_WAIT"),
        "{stdout}"
    );
    assert!(stdout.contains("FIN_WAIT_2 -rcv_fin-> CLOSED"), "{stdout}");
    // Not a terminal: no progress bar.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_spec_exits_non_zero_with_the_rendered_diagnostic() {
    let dir = std::env::temp_dir().join(format!("fsm-lab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("typo.fsm");
    let source = std::fs::read_to_string(root().join("tcp.fsm")).expect("tcp.fsm");
    let typo = source.replacen(
        "-> ESTABLISHED on rcv_syn_ack",
        "-> ESTABLISHD on rcv_syn_ack",
        1,
    );
    assert_ne!(typo, source, "the typo was made");
    std::fs::write(&bad, typo).expect("write");
    let out = lab(&["compare", "tcp.fsm", bad.to_str().expect("UTF-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: unknown state `ESTABLISHD`"),
        "{stderr}"
    );
    assert!(stderr.contains("typo.fsm:"), "{stderr}");
    assert!(
        stderr.contains("help: did you mean `ESTABLISHED`?"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    let out = lab(&["compare", "tcp.fsm", "no/such/spec.fsm"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("no/such/spec.fsm: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn out_writes_the_heat_map_counts_per_spec() {
    let dir = std::env::temp_dir().join(format!("fsm-lab-heat-{}", std::process::id()));
    let out = lab(&[
        "compare",
        "tcp.fsm",
        "examples/specs/no_time_wait.fsm",
        "--seeds",
        "20",
        "--out",
        dir.to_str().expect("UTF-8"),
    ]);
    assert!(out.status.success());
    let csv = std::fs::read_to_string(dir.join("1-tcp.heat.csv")).expect("tcp's heat map");
    assert!(csv.starts_with("kind,index,from,event,to,line,count\n"));
    assert!(csv.contains("pair,0,CLOSED,passive_open,LISTEN,"), "{csv}");
    assert!(csv.contains(",20\n"), "every seed's listener: {csv}");
    assert!(csv.contains("state,8,TIME_WAIT,,,,1\n"), "{csv}");
    let variant = std::fs::read_to_string(dir.join("2-no_time_wait.heat.csv")).expect("variant's");
    assert!(!variant.contains("TIME_WAIT"));
    // The drawings: every passive OPEN of the 20 seeds counted on its
    // arrow; CLOSING never reached, so its box is grey.
    let svg = std::fs::read_to_string(dir.join("1-tcp.heat.svg")).expect("tcp's heat map");
    assert!(
        svg.contains("passive OPEN / – ×20"),
        "the count on the arrow"
    );
    let closing = svg
        .split("<g class=\"state\">")
        .find(|g| g.starts_with("<title>CLOSING"))
        .expect("CLOSING drawn");
    assert!(closing.contains("fill=\"#efefef\""), "CLOSING greyed");
    assert!(dir.join("2-no_time_wait.heat.svg").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn congestion_specs_compare_side_by_side_under_tcp_fsm() {
    let report = run(&["congestion.fsm", "examples/specs/congestion/tahoe.fsm"]);
    let [newreno, tahoe] = &report.tallies[..] else {
        panic!("two tallies")
    };
    for t in [newreno, tahoe] {
        assert_eq!(t.failures, 0, "{:?}", t.first_failure);
        assert!(t.cc_events > 0);
    }
    // Only NewReno recovers fast; Tahoe starts again from one segment.
    let into_recovery = |t: &fsm_lab::compare::Tally| {
        t.cc_changes
            .iter()
            .filter(|((_, to), _)| *to == "FAST_RECOVERY")
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    assert!(into_recovery(newreno) > 0);
    assert_eq!(into_recovery(tahoe), 0);
    // The heat map of a congestion spec counts its own pairs.
    assert_eq!(newreno.side_fired.len(), 14);
    assert_eq!(tahoe.side_fired.len(), 10);
    assert!(newreno.side_fired.iter().sum::<u64>() > 0);
    let dir = std::env::temp_dir().join(format!("fsm-lab-cc-{}", std::process::id()));
    let o = lab(&[
        "compare",
        "congestion.fsm",
        "examples/specs/congestion/tahoe.fsm",
        "--seeds",
        "20",
        "--loss",
        "0.05",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.join("1-congestion.heat.csv")).unwrap();
    assert!(
        csv.contains(",FAST_RECOVERY,new_ack,CONGESTION_AVOIDANCE,"),
        "{csv}"
    );
    let svg = std::fs::read_to_string(dir.join("2-tahoe.heat.svg")).unwrap();
    assert!(svg.contains("Tahoe"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recovery_specs_compare_side_by_side_under_tcp_fsm() {
    let report = run(&["recovery.fsm", "examples/specs/recovery/newreno.fsm"]);
    let [rack, newreno] = &report.tallies[..] else {
        panic!("two tallies")
    };
    for t in [rack, newreno] {
        assert_eq!(t.failures, 0, "{:?}", t.first_failure);
        assert!(t.rec_events > 0);
        assert!(
            t.rec_changes.contains_key(&("OPEN", "RECOVERY")),
            "{:?}",
            t.rec_changes
        );
    }
    // Only RACK-TLP has a DISORDER state.
    assert!(rack.rec_changes.keys().any(|(_, to)| *to == "DISORDER"));
    assert!(!newreno.rec_changes.keys().any(|(_, to)| *to == "DISORDER"));
    // The heat map of a recovery spec counts its own pairs.
    assert_eq!(rack.side_fired.len(), 31);
    assert_eq!(newreno.side_fired.len(), 9);
    let o = lab(&[
        "compare",
        "recovery.fsm",
        "examples/specs/recovery/newreno.fsm",
        "--seeds",
        "20",
        "--loss",
        "0.05",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("recovery machines (both sides)"), "{table}");
    assert!(table.contains("OPEN -> DISORDER"), "{table}");
}

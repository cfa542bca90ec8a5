//! The explorer: tcp.fsm holds in every scenario with a loss; variant
//! specs with known defects are caught, each with a shortest
//! counterexample that a replay reproduces and that draws as a sequence
//! chart naming every state of its path.

use fsm_lab::explore::{
    self, Options, Property, Report, Scenario, Subject, chart, read_schedule, replay, schedule_file,
};

fn spec(path: &str) -> Subject {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    let machine = fsm_runtime::loaded::Loaded::load(std::path::Path::new(&full))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    Subject::new(path, machine)
}

fn run(s: &Subject, options: &Options) -> Report {
    explore::explore([s, s], options, &|_, _| {}).expect("explores")
}

#[test]
fn tcp_fsm_holds_in_every_scenario_with_one_loss() {
    let tcp = spec("tcp.fsm");
    for scenario in Scenario::ALL {
        let mut o = Options::new(scenario);
        o.losses = 1;
        // Two segments each way, so that they can arrive out of order.
        o.bytes = 2;
        let r = run(&tcp, &o);
        assert!(r.ok(), "{scenario}:\n{r}");
        assert!(!r.bounded);
        assert!(r.desired > 0, "{scenario}: no desired end:\n{r}");
        assert!(r.states > 10, "{scenario}: {} states", r.states);
    }
}

/// A variant spec, the scenario that shows its defect, and the property
/// the defect breaks, as the spec's text tells it (not as the explorer
/// finds it).
struct Defect {
    spec: &'static str,
    scenario: Scenario,
    losses: u8,
    breaks: Property,
}

const DEFECTS: [Defect; 5] = [
    // ESTABLISHED has no transition for the peer's FIN: the server never
    // sees the end of the client's stream, and waits to read forever.
    Defect {
        spec: "examples/specs/no_close_wait.fsm",
        scenario: Scenario::Echo,
        losses: 0,
        breaks: Property::Deadlock,
    },
    // SYN_RCVD never becomes ESTABLISHED: nothing is ever accepted.
    Defect {
        spec: "examples/specs/no_syn_rcvd_established.fsm",
        scenario: Scenario::Echo,
        losses: 0,
        breaks: Property::Deadlock,
    },
    // A SYN in SYN_SENT is refused: two connects that cross never open,
    // and the connect times out.
    Defect {
        spec: "examples/specs/no_simultaneous_open.fsm",
        scenario: Scenario::SimultaneousOpen,
        losses: 0,
        breaks: Property::Undesired,
    },
    // The server closes as soon as the client's FIN arrives, before it
    // could echo: the client reads nothing back.
    Defect {
        spec: "examples/specs/server_closes_on_fin.fsm",
        scenario: Scenario::Echo,
        losses: 0,
        breaks: Property::Undesired,
    },
    // No linger timeout in FIN_WAIT_2: when the aborting client's RST is
    // lost, the server's FIN is acknowledged and nothing ever ends it.
    Defect {
        spec: "examples/specs/no_linger.fsm",
        scenario: Scenario::Abort,
        losses: 1,
        breaks: Property::Deadlock,
    },
];

#[test]
fn variants_with_defects_are_caught_and_the_counterexamples_replay() {
    for d in DEFECTS {
        let s = spec(d.spec);
        let mut o = Options::new(d.scenario);
        o.losses = d.losses;
        let r = run(&s, &o);
        let c = r
            .violations
            .iter()
            .find(|c| c.violation.property == d.breaks)
            .unwrap_or_else(|| panic!("{}: {:?} not found:\n{r}", d.spec, d.breaks));
        // The schedule file reads back to the same settings and moves, and
        // plays back to the same violation.
        let mut again = Options::new(Scenario::Echo);
        let moves = read_schedule(&schedule_file(&r, c, "-"), &mut again).expect("reads back");
        assert_eq!(moves, c.schedule);
        assert_eq!(again.scenario, d.scenario);
        assert_eq!(again.losses, d.losses);
        let played = replay([&s, &s], &again, &moves).expect("replays");
        assert!(
            played.failed(),
            "{}: the replay does not fail:\n{played}",
            d.spec
        );
        let verdict = played.verdict().expect("a verdict");
        assert!(
            verdict.starts_with(d.breaks.name()),
            "{}: {verdict}",
            d.spec
        );
        // Its chart names every state the path went through.
        let svg = fsm_codegen::msc::render(&chart(&played, d.spec));
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml") || svg.starts_with("<!--"));
        assert!(svg.trim_end().ends_with("</svg>"));
        for state in played.states() {
            assert!(
                svg.contains(&state),
                "{}: {state} missing from the chart",
                d.spec
            );
        }
    }
}

#[test]
fn a_move_that_is_not_enabled_is_an_error_not_a_panic() {
    let tcp = spec("tcp.fsm");
    let o = Options::new(Scenario::Echo);
    let err = replay([&tcp, &tcp], &o, &[explore::Move::Deliver(3)]).unwrap_err();
    assert!(err.contains("not enabled"), "{err}");
    let mut o = Options::new(Scenario::Echo);
    assert!(read_schedule("deliver x", &mut o).is_err());
    assert!(read_schedule("scenario nowhere", &mut o).is_err());
}

#[test]
fn the_search_is_the_same_on_one_thread_and_on_two() {
    let tcp = spec("tcp.fsm");
    let mut o = Options::new(Scenario::SimultaneousClose);
    o.losses = 1;
    o.threads = 1;
    let one = run(&tcp, &o);
    o.threads = 2;
    let two = run(&tcp, &o);
    assert_eq!(
        (one.states, one.transitions, one.depth, one.desired),
        (two.states, two.transitions, two.depth, two.desired)
    );
    // And so is every counterexample, on any number of threads: of
    // states the fingerprint does not tell apart, the first parent's.
    let s = spec("examples/specs/no_linger.fsm");
    let mut o = Options::new(Scenario::Abort);
    o.losses = 1;
    o.dups = 1;
    let mut schedules = |threads| {
        o.threads = threads;
        let r = run(&s, &o);
        assert!(!r.ok());
        r.violations
            .iter()
            .map(|c| (c.violation.clone(), c.schedule.clone(), c.count))
            .collect::<Vec<_>>()
    };
    let one = schedules(1);
    for threads in [2, 3, 8] {
        assert_eq!(one, schedules(threads), "{threads} threads");
    }
}

/// RFC 793 figure 6 labels a simultaneous open `rcv SYN / snd ACK` where
/// its text (and RFC 9293) send a SYN,ACK. In a crossing both SYNs are
/// already on their way, so a bare ACK of the peer's SYN is enough: the
/// variant takes the figure's transition and still opens, whatever the
/// network does with one loss.
#[test]
fn rfc793_figure6_still_opens_a_simultaneous_open() {
    let s = spec("examples/specs/rfc793_figure6_open.fsm");
    let mut o = Options::new(Scenario::SimultaneousOpen);
    o.losses = 1;
    let r = run(&s, &o);
    assert!(r.ok(), "{r}");
    let line = s
        .oracle
        .model
        .transitions
        .iter()
        .find(|t| {
            let m = &s.oracle.model;
            m.events[t.event.index()].name.text == "rcv_syn"
                && t.sources
                    .iter()
                    .any(|x| m.states[x.index()].name.text == "SYN_SENT")
        })
        .expect("the figure's transition")
        .line;
    assert!(
        !r.untaken[0]
            .iter()
            .any(|p| p.ends_with(&format!(":{line} SYN_SENT on rcv_syn"))),
        "the figure's transition was never taken:\n{r}"
    );
}

/// docs/explore/ holds counterexamples the explorer writes: each must be
/// what `fsm-lab explore … --out docs/explore/NAME` writes today.
#[test]
fn the_counterexamples_in_docs_are_current() {
    let cases = [
        ("no_close_wait", Scenario::Echo, 0),
        ("server_closes_on_fin", Scenario::Echo, 0),
        ("no_linger", Scenario::Abort, 1),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (name, scenario, losses) in cases {
        let s = spec(&format!("examples/specs/{name}.fsm"));
        let mut o = Options::new(scenario);
        o.losses = losses;
        let r = run(&s, &o);
        assert_eq!(r.violations.len(), 1, "{name}:\n{r}");
        let out = format!("docs/explore/{name}");
        for (file, text) in
            explore::counterexample_files(&r, &r.violations[0], [&s, &s], &out).expect("replays")
        {
            let path = root.join(&out).join(&file);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "{} is stale: run `cargo run --release -p fsm-lab -- {}`",
                path.display(),
                explore::command(&r, &out).trim_start_matches("fsm-lab ")
            );
        }
    }
}

/// README "Verify a spec": under tcp.fsm, reordering alone lets an old ACK
/// end TIME_WAIT (RFC 1337's hazard H3): the client answers it, the
/// closed server's listener answers that with an RST, and tcp.fsm closes
/// TIME_WAIT on the RST, so the second connection opens while the first
/// one's segments are in flight. Both still end as desired. RFC 1337's
/// fix (time_wait_ignores_rst.fsm) keeps TIME_WAIT, and the second
/// connect waits for it.
#[test]
fn an_old_ack_ends_time_wait_unless_the_spec_ignores_the_rst() {
    let path = format!(
        "{}/../docs/explore/reuse/time_wait_assassination.schedule",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("the schedule in docs");
    let mut o = Options::new(Scenario::Echo);
    let moves = read_schedule(&text, &mut o).expect("reads");
    assert_eq!(
        (o.scenario, o.reorder, o.losses, o.dups),
        (Scenario::Reuse, true, 0, 0)
    );

    let tcp = spec("tcp.fsm");
    let played = replay([&tcp, &tcp], &o, &moves).expect("replays under tcp.fsm");
    assert_eq!(played.outcome(), "ends as desired");
    let shown = played.to_string();
    let killed = shown
        .find("client TIME_WAIT -> CLOSED on rcv_rst")
        .expect("TIME_WAIT ends on the RST");
    let reconnect = shown
        .match_indices("client connect")
        .nth(1)
        .expect("a second connect")
        .0;
    assert!(killed < reconnect, "{shown}");
    // Datagrams are numbered as sent: one numbered below the second SYN is
    // the first connection's.
    let after = &shown[reconnect..];
    let number = |s: &str| -> u32 { s.trim_end_matches(')').parse().expect("a datagram number") };
    let syn = after
        .split("client sends #")
        .nth(1)
        .map(|s| number(s.split_whitespace().next().expect("its number")))
        .expect("the second SYN");
    let old = after
        .split(" (#")
        .skip(1)
        .map(|s| number(s.split_whitespace().next().expect("a number")))
        .filter(|&n| n < syn)
        .count();
    assert!(
        old > 0,
        "no segment of the first connection arrives during the second:\n{shown}"
    );
    // Its chart in docs is what `--replay … --svg` draws today.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let docs = "docs/explore/reuse/time_wait_assassination.svg";
    let fresh = std::env::temp_dir().join(format!("assassination-{}.svg", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fsm-lab"))
        .current_dir(&root)
        .args([
            "explore",
            "tcp.fsm",
            "--replay",
            "docs/explore/reuse/time_wait_assassination.schedule",
            "--svg",
        ])
        .arg(&fresh)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let drawn = std::fs::read_to_string(&fresh).expect("the chart");
    std::fs::remove_file(&fresh).ok();
    let committed = std::fs::read_to_string(root.join(docs)).unwrap_or_default();
    assert!(
        drawn.replace(&fresh.display().to_string(), docs) == committed,
        "{docs} is stale: run `cargo run --release -p fsm-lab -- explore tcp.fsm --replay docs/explore/reuse/time_wait_assassination.schedule --svg {docs}`"
    );
    for state in played.states() {
        assert!(committed.contains(&state), "{state} missing from {docs}");
    }

    let rfc1337 = spec("examples/specs/time_wait_ignores_rst.fsm");
    // The move that makes the second connect: the numbered line above it.
    let connect: usize = shown[..reconnect]
        .lines()
        .rev()
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
        .expect("a numbered move");
    let connect = connect - 1;
    assert_eq!(moves[connect], explore::Move::App(0));
    let before = replay([&rfc1337, &rfc1337], &o, &moves[..connect]).expect("replays up to it");
    assert!(
        before
            .to_string()
            .contains("client TIME_WAIT -> TIME_WAIT on rcv_rst"),
        "{before}"
    );
    assert!(
        replay([&rfc1337, &rfc1337], &o, &moves[..=connect]).is_err(),
        "the second connect waits for TIME_WAIT under RFC 1337"
    );
}

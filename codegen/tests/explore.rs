//! The spec-level explorer (`fsm explore`): each kind of finding from a
//! small spec built to show it, the network's options changing what is
//! found exactly as they say, schedules that replay, and tcp.fsm against
//! itself.

use fsm_codegen::explore::{
    Exploration, Finding, Move, Network, Order, Peer, chart, describe, explore, report,
};
use fsm_codegen::{Model, compile};

fn model(src: &str) -> Model {
    match compile("test.fsm", src) {
        Ok(spec) => spec.model,
        Err(r) => panic!("{:#?}", r.diagnostics),
    }
}

fn peer<'a>(model: &'a Model, name: &str) -> Peer<'a> {
    Peer {
        model,
        name: name.to_owned(),
        history: Vec::new(),
    }
}

fn run(a: &Model, b: &Model, network: Network) -> Exploration {
    explore(&peer(a, "A"), &peer(b, "B"), network, 1_000_000)
}

fn kinds(e: &Exploration) -> Vec<&'static str> {
    e.findings
        .iter()
        .map(|f| match f {
            Finding::Deadlock { .. } => "deadlock",
            Finding::UnspecifiedReception { .. } => "unspecified",
            Finding::NonProgressCycle { .. } => "cycle",
        })
        .collect()
}

/// A client that asks once and waits for the answer (no timer), and a
/// server that answers.
const CLIENT: &str = r#"machine Client "asks once"
state IDLE initial "idle"
state WAITING "waiting for the answer"
event ask call "ask"
event rcv_answer segment on ANSWER "the answer"
action send_question sends QUESTION "question"
message QUESTION "a question"
message ANSWER "an answer"
IDLE -> WAITING on ask / send_question
WAITING -> IDLE on rcv_answer
"#;

const SERVER: &str = r#"machine Server "answers"
state READY initial "ready"
event rcv_question segment on QUESTION "a question"
action send_answer sends ANSWER "answer"
message QUESTION "a question"
message ANSWER "an answer"
READY -> same on rcv_question / send_answer
"#;

#[test]
fn a_request_and_its_answer_find_nothing_on_a_perfect_network() {
    let (c, s) = (model(CLIENT), model(SERVER));
    let e = run(&c, &s, Network::default());
    assert_eq!(kinds(&e), Vec::<&str>::new(), "{e:#?}");
    assert!(!e.truncated);
    // IDLE/READY, WAITING with the question in flight, WAITING with the
    // answer in flight.
    assert_eq!(e.states, 3);
    assert!(e.untaken.iter().all(Vec::is_empty), "{:?}", e.untaken);
}

#[test]
fn a_lost_question_leaves_the_client_waiting_forever() {
    let (c, s) = (model(CLIENT), model(SERVER));
    let e = run(
        &c,
        &s,
        Network {
            loss: 1,
            ..Network::default()
        },
    );
    assert_eq!(kinds(&e), ["deadlock"]);
    let Finding::Deadlock { schedule, states } = &e.findings[0] else {
        unreachable!()
    };
    assert_eq!(states, &["WAITING".to_owned(), "READY".to_owned()]);
    // The shortest: ask, then the question lost.
    assert_eq!(schedule.len(), 2);
    assert!(matches!(schedule[0], Move::Fire { side: 0, .. }));
    assert!(matches!(schedule[1], Move::Lose { side: 1, .. }));
}

#[test]
fn a_duplicated_question_brings_an_answer_nobody_waits_for() {
    let (c, s) = (model(CLIENT), model(SERVER));
    let e = run(
        &c,
        &s,
        Network {
            duplication: 1,
            ..Network::default()
        },
    );
    assert_eq!(kinds(&e), ["unspecified"]);
    let Finding::UnspecifiedReception {
        side,
        state,
        message,
        schedule,
    } = &e.findings[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (*side, state.as_str(), message.as_str()),
        (0, "IDLE", "ANSWER")
    );
    assert!(schedule.iter().any(|m| matches!(m, Move::Duplicate { .. })));
}

/// Sends two messages in one transition, then waits until both are in;
/// its peer expects them in order.
const SENDER: &str = r#"machine Sender "first then second"
state START initial "start"
state SENT "both sent"
event go call "go"
event rcv_done segment on DONE "done"
action send_first sends FIRST "first"
action send_second sends SECOND "second"
message FIRST "first"
message SECOND "second"
message DONE "both in"
START -> SENT on go / send_first, send_second
SENT -> START on rcv_done
"#;

const RECEIVER: &str = r#"machine Receiver "first, then second"
state START initial "start"
state GOT_FIRST "first arrived"
event rcv_first segment on FIRST "first"
event rcv_second segment on SECOND "second"
action send_done sends DONE "done"
message FIRST "first"
message SECOND "second"
message DONE "both in"
START -> GOT_FIRST on rcv_first
GOT_FIRST -> START on rcv_second / send_done
"#;

#[test]
fn reordering_is_found_only_on_unordered_channels() {
    let (s, r) = (model(SENDER), model(RECEIVER));
    let fifo = run(&s, &r, Network::default());
    assert_eq!(kinds(&fifo), Vec::<&str>::new(), "{fifo:#?}");
    let unordered = run(
        &s,
        &r,
        Network {
            order: Order::Unordered,
            ..Network::default()
        },
    );
    assert!(
        unordered.findings.iter().any(|f| matches!(f,
            Finding::UnspecifiedReception { state, message, .. }
                if state == "START" && message == "SECOND")),
        "{}",
        report(
            &peer(&s, "A"),
            &peer(&r, "B"),
            Network::default(),
            &unordered
        )
    );
}

#[test]
fn a_send_that_does_not_fit_waits() {
    // Two messages at once do not fit in a channel of one: `go` never
    // fires, so neither does anything after it.
    let (s, r) = (model(SENDER), model(RECEIVER));
    let e = run(
        &s,
        &r,
        Network {
            capacity: 1,
            ..Network::default()
        },
    );
    assert_eq!(e.states, 1);
    assert_eq!(e.untaken[0].len(), s.edges().count());
    // Both initial, nothing in flight: an end, not a deadlock.
    assert_eq!(kinds(&e), Vec::<&str>::new());
}

/// A pinger whose timer fires whenever it likes, and an echo.
const PING: &str = r#"machine Ping "pings on a timer"
state ON initial "on"
event tick timer "tick"
event rcv_pong segment on PONG "pong"
action send_ping sends PING "ping"
message PING "ping"
message PONG "pong"
ON -> same on tick / send_ping
ON -> same on rcv_pong
"#;

const ECHO: &str = r#"machine Echo "answers pings"
state ON initial "on"
event rcv_ping segment on PING "ping"
action send_pong sends PONG "pong"
message PING "ping"
message PONG "pong"
ON -> same on rcv_ping / send_pong
"#;

#[test]
fn self_loops_that_only_talk_make_a_non_progress_cycle() {
    let (p, e) = (model(PING), model(ECHO));
    let x = run(&p, &e, Network::default());
    assert!(kinds(&x).contains(&"cycle"), "{x:#?}");
    let Some(Finding::NonProgressCycle {
        schedule, cycle, ..
    }) = x
        .findings
        .iter()
        .find(|f| matches!(f, Finding::NonProgressCycle { .. }))
    else {
        unreachable!()
    };
    assert!(*cycle >= 2 && *cycle <= schedule.len());
}

#[test]
fn a_deadlock_between_two_waiting_peers() {
    // Both sides can only wait for the other to speak first.
    const SHY: &str = r#"machine Shy "waits to be spoken to"
state IDLE initial "idle"
state LISTENING "listening"
event listen call "listen"
event rcv_hello segment on HELLO "hello"
action send_hello sends HELLO "hello"
message HELLO "hello"
IDLE -> LISTENING on listen
LISTENING -> IDLE on rcv_hello / send_hello
"#;
    let m = model(SHY);
    let e = run(&m, &m, Network::default());
    assert_eq!(kinds(&e), ["deadlock"]);
    assert_eq!(e.findings[0].schedule().len(), 2);
    let text = describe(&e.findings[0]);
    assert_eq!(
        text,
        "deadlock: A in LISTENING, B in LISTENING, and no move"
    );
    // Nobody ever speaks: that pair is never taken, on either side.
    assert_eq!(e.untaken[0].len(), 1);
}

#[test]
fn the_chart_of_a_finding_draws_its_messages_and_verdict() {
    let (c, s) = (model(CLIENT), model(SERVER));
    let net = Network {
        duplication: 1,
        ..Network::default()
    };
    let (a, b) = (peer(&c, "client"), peer(&s, "server"));
    let e = explore(&a, &b, net, 1000);
    let ch = chart(&a, &b, &e, &e.findings[0], "client against server");
    assert_eq!(ch.rows.len(), e.findings[0].schedule().len());
    assert!(ch.messages.iter().any(|m| m.copy_of.is_some()), "{ch:#?}");
    let svg = fsm_codegen::msc::render(&ch);
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("unspecified reception: ANSWER arrives at A in IDLE"));
}

#[test]
fn tcp_against_itself_never_deadlocks_and_takes_both_typical_paths() {
    let spec = compile("tcp.fsm", include_str!("../../tcp.fsm")).expect("tcp.fsm");
    let m = &spec.model;
    let history = vec![fsm_codegen::tour::History::parse(m, "passive:LISTEN/SYN_SENT").unwrap()];
    let a = Peer {
        model: m,
        name: "A".into(),
        history: history.clone(),
    };
    let b = Peer {
        model: m,
        name: "B".into(),
        history,
    };
    let e = explore(&a, &b, Network::default(), 5_000_000);
    assert!(!e.truncated);
    assert!(
        !kinds(&e).contains(&"deadlock"),
        "{}",
        report(&a, &b, Network::default(), &e)
    );
    // What the spec leaves to the runtime: an RST arriving in CLOSED is
    // discarded (RFC 9293 3.10.7.1) without a transition.
    assert!(e.findings.iter().any(|f| matches!(f,
        Finding::UnspecifiedReception { state, message, .. }
            if state == "CLOSED" && message == "RST")));
    // Every pair on the typical paths is taken.
    let edges: Vec<_> = m.edges().collect();
    for side in 0..2 {
        for &p in &e.untaken[side] {
            let t = &m.transitions[edges[p].transition.index()];
            assert!(
                t.steps.is_empty(),
                "a typical path's pair never taken: line {}",
                t.line
            );
        }
    }
}

#[test]
fn the_readme_chart_of_tcp_is_current() {
    let spec = compile("tcp.fsm", include_str!("../../tcp.fsm")).expect("tcp.fsm");
    let m = &spec.model;
    let history = vec![fsm_codegen::tour::History::parse(m, "passive:LISTEN/SYN_SENT").unwrap()];
    let a = Peer {
        model: m,
        name: "A (tcp.fsm)".into(),
        history: history.clone(),
    };
    let b = Peer {
        model: m,
        name: "B (tcp.fsm)".into(),
        history,
    };
    let e = explore(&a, &b, Network::default(), 5_000_000);
    let f = &e.findings[0];
    let title = format!("tcp.fsm against tcp.fsm: {}", describe(f));
    let command = "fsm explore tcp.fsm --history passive:LISTEN/SYN_SENT --svg docs/explore/spec-level/tcp.svg";
    let svg = fsm_codegen::msc::render_with(&chart(&a, &b, &e, f, &title), Some(command));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/explore/spec-level/tcp.svg"
    );
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &svg).unwrap();
    }
    assert!(
        std::fs::read_to_string(path).unwrap() == svg,
        "docs/explore/spec-level/tcp.svg is stale: run `cargo run --release --bin fsm -- {}` \
         from the repository's root (or UPDATE_DOCS=1 cargo test -p fsm-codegen --test explore)",
        command.trim_start_matches("fsm ")
    );
}

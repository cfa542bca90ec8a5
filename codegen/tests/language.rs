//! The parser and the model: what a spec says is what the model holds; and
//! no input, however broken, panics them.

use fsm_codegen::model::{SourceForm, Target};
use fsm_codegen::syntax::{self, Decl, EventKind, LineStyle, Marker, SourcesSyntax};
use fsm_codegen::{Model, compile};
use proptest::prelude::*;

fn model(src: &str) -> Model {
    compile("t.fsm", src)
        .unwrap_or_else(|r| panic!("{}", r.render()))
        .model
}

fn tcp_source() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap()
}

#[test]
fn declarations_parse_with_their_parts() {
    let tree = syntax::parse(
        r#"machine M "title" zh "标题"
           path p dashed boxed "typical"
           state A initial "a" zh "甲" p 1
           event e segment "E"
           guard g "G"
           action x internal "X"
           group both = A, B
           A -> B on e [g] / x p 2 rfc 3.10.7 label "E!" zh "乙"
        "#,
    )
    .unwrap();
    assert_eq!(tree.machine.text, "M");
    assert_eq!(tree.title.get("zh"), "标题");
    assert!(matches!(
        &tree.decls[0],
        Decl::Path {
            style: LineStyle::Dashed,
            marker: Marker::Boxed,
            ..
        }
    ));
    match &tree.decls[1] {
        Decl::State {
            name,
            initial,
            text,
            steps,
        } => {
            assert_eq!(name.text, "A");
            assert!(initial.is_some());
            assert_eq!(text.get("zh"), "甲");
            assert_eq!(steps[0].path.text, "p");
            assert_eq!(steps[0].step, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        &tree.decls[2],
        Decl::Event {
            kind: EventKind::Segment,
            ..
        }
    ));
    assert!(matches!(
        &tree.decls[4],
        Decl::Action { internal: true, .. }
    ));
    match &tree.decls[6] {
        Decl::Transition(t) => {
            assert!(matches!(&t.sources, SourcesSyntax::Names(n) if n.len() == 1));
            assert_eq!(t.target.as_ref().unwrap().text, "B");
            assert_eq!(t.event.text, "e");
            assert!(t.guard.is_some());
            assert_eq!(t.actions.len(), 1);
            assert_eq!(t.rfc.as_deref(), Some("3.10.7"));
            let label = t.label.as_ref().unwrap();
            assert_eq!((label.en.as_str(), label.get("zh")), ("E!", "乙"));
            assert_eq!(t.steps[0].step, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn strings_unescape() {
    let tree = syntax::parse(r#"machine M "a \"quoted\" \\ back\nslash""#).unwrap();
    assert_eq!(tree.title.en, "a \"quoted\" \\ back\nslash");
}

#[test]
fn keywords_need_a_word_boundary() {
    // `stateful` is a name, not the keyword `state` followed by `ful`.
    let err = syntax::parse("machine M \"m\"\nstateful \"x\"\n").unwrap_err();
    assert!(
        err.message
            .starts_with("expected a declaration or a transition"),
        "{}",
        err.message
    );
}

#[test]
fn groups_any_and_same_expand_to_sources_and_targets() {
    let m = model(
        r#"machine M "m"
        state A initial "a"
        state B "b"
        state C "c"
        event go call "go"
        event stop call "stop"
        event tick timer "tick"
        group bc = B, C
        A -> B on go
        B -> C on go
        bc -> A on stop
        any -> same on tick
        "#,
    );
    let stop = &m.transitions[2];
    assert_eq!(stop.source_form, SourceForm::Group("bc".into()));
    assert_eq!(stop.sources.len(), 2);
    assert!(!stop.is_single());
    let tick = &m.transitions[3];
    assert_eq!(tick.source_form, SourceForm::Any);
    assert_eq!(tick.target, Target::Same);
    assert_eq!(tick.sources.len(), 3);
    assert_eq!(m.edges().count(), 1 + 1 + 2 + 3);
    assert!(
        m.edges()
            .filter(|e| e.transition.index() == 3)
            .all(|e| e.from == e.to)
    );
}

#[test]
fn labels_read_condition_slash_action() {
    let m = model(&tcp_source());
    let label = |from: &str, event: &str| {
        let s = m.state(from).unwrap();
        let e = m.event(event).unwrap();
        let t = m.candidates(s, e);
        m.transition_label(&m.transitions[t[0].index()], "en")
    };
    assert_eq!(label("CLOSED", "active_open"), "active OPEN / SYN");
    assert_eq!(label("CLOSED", "passive_open"), "passive OPEN / –");
    assert_eq!(label("LISTEN", "rcv_syn"), "SYN / SYN+ACK");
    assert_eq!(
        label("FIN_WAIT_2", "rcv_fin"),
        "FIN / ACK, start 2MSL timer"
    );
    assert_eq!(label("LISTEN", "send"), "SEND [remote socket known] / SYN");
    let s = m.state("SYN_RCVD").unwrap();
    let e = m.event("rcv_rst").unwrap();
    let labels: Vec<String> = m
        .candidates(s, e)
        .iter()
        .map(|t| m.transition_label(&m.transitions[t.index()], "en"))
        .collect();
    assert_eq!(
        labels,
        [
            "RST [reached by a passive OPEN] / –",
            "RST [¬reached by a passive OPEN] / –"
        ]
    );
}

#[test]
fn tcp_spec_has_the_rfc_states_and_both_numbered_paths() {
    let m = model(&tcp_source());
    let names: Vec<&str> = m.states.iter().map(|s| s.name.text.as_str()).collect();
    assert_eq!(
        names,
        [
            "CLOSED",
            "LISTEN",
            "SYN_SENT",
            "SYN_RCVD",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "CLOSING",
            "TIME_WAIT",
            "CLOSE_WAIT",
            "LAST_ACK"
        ]
    );
    assert_eq!(m.states[m.initial().index()].name.text, "CLOSED");
    // Walk each path by its step numbers and compare with the article.
    let walk = |path: &str| -> Vec<String> {
        let p = m.paths.iter().position(|p| p.name.text == path).unwrap();
        let mut steps: Vec<(u32, String)> = Vec::new();
        for s in &m.states {
            for st in s.steps.iter().filter(|st| st.path.index() == p) {
                steps.push((st.step, s.name.text.clone()));
            }
        }
        for t in &m.transitions {
            for st in t.steps.iter().filter(|st| st.path.index() == p) {
                let to = t.target_from(t.sources[0]);
                steps.push((st.step, m.states[to.index()].name.text.clone()));
            }
        }
        steps.sort();
        assert_eq!(
            steps.iter().map(|s| s.0).collect::<Vec<_>>(),
            (1..=7).collect::<Vec<_>>()
        );
        steps.into_iter().map(|s| s.1).collect()
    };
    assert_eq!(
        walk("client"),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED"
        ]
    );
    assert_eq!(
        walk("server"),
        [
            "CLOSED",
            "LISTEN",
            "SYN_RCVD",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED"
        ]
    );
    assert_eq!(m.languages(), ["zh"]);
}

#[test]
fn tcp_spec_encodes_the_rules_that_are_easy_to_get_wrong() {
    let m = model(&tcp_source());
    let targets = |from: &str, event: &str| -> Vec<String> {
        let s = m.state(from).unwrap();
        let e = m.event(event).unwrap();
        m.candidates(s, e)
            .iter()
            .map(|t| {
                m.states[m.transitions[t.index()].target_from(s).index()]
                    .name
                    .text
                    .clone()
            })
            .collect()
    };
    // Simultaneous open (MUST-10) and SYN_RCVD remembering a passive open (MUST-11).
    assert_eq!(targets("SYN_SENT", "rcv_syn"), ["SYN_RCVD"]);
    assert_eq!(targets("SYN_RCVD", "rcv_rst"), ["LISTEN", "CLOSED"]);
    // Simultaneous close, and FIN+ACK straight to TIME_WAIT.
    assert_eq!(targets("FIN_WAIT_1", "rcv_fin"), ["CLOSING", "TIME_WAIT"]);
    assert_eq!(targets("CLOSING", "rcv_ack"), ["TIME_WAIT"]);
    // TIME_WAIT restarts on a repeated FIN (MUST-13) and ends on its timer.
    assert_eq!(targets("TIME_WAIT", "rcv_fin"), ["TIME_WAIT"]);
    assert_eq!(targets("TIME_WAIT", "time_wait_timeout"), ["CLOSED"]);
    // RFC 5961: challenge ACKs in every synchronized state.
    for s in [
        "SYN_RCVD",
        "ESTABLISHED",
        "FIN_WAIT_1",
        "FIN_WAIT_2",
        "CLOSE_WAIT",
        "CLOSING",
        "LAST_ACK",
        "TIME_WAIT",
    ] {
        assert_eq!(targets(s, "rcv_syn"), [s], "{s}");
        assert_eq!(targets(s, "rcv_rst_in_window"), [s], "{s}");
    }
    // The user timeout ends in CLOSED where something of ours can await an
    // ACK and has no transition elsewhere (RFC 9293 3.10.8 says "any
    // state"; the runtime raises it only in these).
    for s in &m.states {
        let expected: &[&str] = match s.name.text.as_str() {
            "CLOSED" | "LISTEN" | "FIN_WAIT_2" | "TIME_WAIT" => &[],
            _ => &["CLOSED"],
        };
        assert_eq!(
            targets(&s.name.text, "user_timeout"),
            expected,
            "{}",
            s.name.text
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Arbitrary text never panics the parser or the checker.
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,300}") {
        let _ = compile("fuzz.fsm", &src);
    }

    /// Text made of the language's own words, in any order, never panics them.
    #[test]
    fn shuffled_tokens_never_panic(tokens in prop::collection::vec(prop::sample::select(vec![
        "machine", "M", "\"m\"", "state", "A", "B", "initial", "\"a\"", "event", "e", "call",
        "segment", "timer", "guard", "g", "action", "x", "internal", "path", "p", "solid",
        "dashed", "circled", "boxed", "group", "=", ",", "->", "on", "[", "]", "!", "&&",
        "||", "(", ")", "/", "-", "same", "any", "rfc", "3.1", "label", "zh", "1", "99999999999",
        "\n", "//", "\"", "\\",
    ]), 0..60)) {
        let _ = compile("fuzz.fsm", &tokens.join(" "));
    }

    /// Cutting tcp.fsm at any point and mangling a byte never panics them.
    #[test]
    fn mangled_tcp_spec_never_panics(cut in 0usize..6000, at in 0usize..6000, byte in any::<u8>()) {
        let src = tcp_source();
        let mut bytes = src.into_bytes();
        bytes.truncate(cut.min(bytes.len()));
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(rejected) = compile("tcp.fsm", &text) {
            // Rendering must not panic either, whatever the spans.
            let _ = rejected.render();
        }
    }
}

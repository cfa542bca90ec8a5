//! One test per kind of diagnostic: its message, line and column.

use fsm_codegen::{Severity, compile};

/// A small valid machine that the tests bend one way or another.
const BASE: &str = r#"machine Door "a door"
state OPEN initial "open"
state SHUT "shut"
event push call "push"
event pull call "pull"
action creak "creak"
OPEN -> SHUT on push / creak
SHUT -> OPEN on pull
"#;

/// Compiles `src` and answers each diagnostic as (severity, message, line, column).
fn diags(src: &str) -> Vec<(Severity, String, usize, usize)> {
    let list = match compile("test.fsm", src) {
        Ok(spec) => spec.warnings,
        Err(rejected) => rejected.diagnostics,
    };
    list.iter()
        .map(|d| {
            let (line, col) = d.line_col(src);
            (d.severity, d.message.clone(), line, col)
        })
        .collect()
}

/// The one diagnostic `src` gives, which must be an error.
fn only_error(src: &str) -> (String, usize, usize) {
    let d = diags(src);
    assert_eq!(d.len(), 1, "expected one diagnostic, got {d:#?}");
    let (sev, msg, line, col) = d.into_iter().next().unwrap();
    assert_eq!(sev, Severity::Error, "{msg}");
    (msg, line, col)
}

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn the_base_spec_is_clean() {
    assert_eq!(diags(BASE), vec![]);
}

#[test]
fn syntax_error_says_what_was_expected() {
    let (msg, line, col) = only_error("machine M \"m\"\nstate A initial \"a\"\nA -> B on\n");
    // At the end of the line where the statement stopped, not at the end
    // of the file.
    assert_eq!(msg, "expected a name after `on`");
    assert_eq!((line, col), (3, 10));
}

#[test]
fn an_unterminated_string_says_so() {
    let (msg, line, col) = only_error("machine M \"m\"\nstate A initial \"open\n");
    assert_eq!(msg, "unterminated string");
    assert_eq!((line, col), (2, 17));
    let r = compile("t.fsm", "machine M \"m\"\nstate A initial \"open\n").unwrap_err();
    assert!(
        r.render()
            .contains("no closing `\"` before the end of the line")
    );
    // An escaped quote does not close it.
    let (msg, ..) = only_error("machine M \"m\"\nstate A initial \"a \\\"\n");
    assert_eq!(msg, "unterminated string");
}

#[test]
fn a_translation_without_its_text_is_reported_on_its_own_line() {
    let (msg, line, col) =
        only_error("machine M \"m\"\nstate A initial \"a\" zh\nstate B \"b\"\nA -> B on e\n");
    assert_eq!(msg, "expected a quoted string after `zh`");
    assert_eq!((line, col), (2, 23));
}

#[test]
fn a_reserved_word_as_a_name_says_it_is_reserved() {
    let (msg, line, col) = only_error("machine M \"m\"\nstate on \"a\"\n");
    assert_eq!(msg, "`on` is a reserved word, not a name");
    assert_eq!((line, col), (2, 7));
    let r = compile("t.fsm", "machine M \"m\"\nstate on \"a\"\n").unwrap_err();
    assert!(
        r.render().contains("the reserved words are `machine`"),
        "{}",
        r.render()
    );
}

#[test]
fn a_stray_character_is_named_alone() {
    let (msg, line, col) = only_error(&with("state X \"x\";\n"));
    assert_eq!(msg, "unexpected character `;`");
    assert_eq!((line, col), (9, 12));
    let r = compile("t.fsm", &with("state X \"x\";\n")).unwrap_err();
    assert!(r.render().contains("nothing separates statements"));
}

#[test]
fn a_file_that_is_not_utf8_gets_its_line_and_column() {
    let dir = std::env::temp_dir().join(format!("fsm-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.fsm");
    std::fs::write(&path, b"machine M \"m\"\nstate \xc9T\xc9 initial \"a\"\n").unwrap();
    let e = fsm_codegen::load(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(e.contains("latin1.fsm:2:7: not UTF-8 text"), "{e}");
    assert!(e.contains("0xc9"), "{e}");
}

#[test]
fn a_transition_span_ends_with_its_last_token() {
    // A duplicate transition followed by a comment and a blank line: the
    // caret covers the transition only, not what follows it.
    let src = with(
        "OPEN -> SHUT on push / creak   // again\n\nstate X \"x\"\nSHUT -> X on push\nX -> OPEN on pull\n",
    );
    let r = compile("t.fsm", &src).unwrap_err();
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.message.starts_with("duplicate transition"))
        .expect("the duplicate is reported");
    let label = d
        .labels
        .iter()
        .find(|l| l.primary)
        .expect("a primary label");
    assert_eq!(&src[label.span.clone()], "OPEN -> SHUT on push / creak");
}

#[test]
fn syntax_error_for_a_missing_machine_header() {
    let (msg, line, col) = only_error("state A initial \"a\"\n");
    assert!(msg.contains("`machine NAME"), "{msg}");
    assert_eq!((line, col), (1, 1));
}

#[test]
fn unknown_state_names_the_word_and_suggests() {
    let src = BASE.replace("OPEN -> SHUT", "OPEN -> SHTU");
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "unknown state `SHTU`");
    assert_eq!((line, col), (7, 9));
    let spec = compile("door.fsm", &src).unwrap_err();
    let text = spec.render();
    assert!(text.contains("door.fsm:7:9"), "{text}");
    assert!(text.contains("did you mean `SHUT`?"), "{text}");
}

#[test]
fn unknown_event() {
    let (msg, line, col) = only_error(&with("SHUT -> SHUT on kick\n"));
    assert_eq!(msg, "unknown event `kick`");
    assert_eq!((line, col), (9, 17));
}

#[test]
fn unknown_action() {
    let (msg, line, col) = only_error(&BASE.replace("/ creak", "/ squeak"));
    assert_eq!(msg, "unknown action `squeak`");
    assert_eq!((line, col), (7, 24));
}

#[test]
fn unknown_guard() {
    let (msg, line, col) = only_error(&with("SHUT -> SHUT on push [locked]\n"));
    assert_eq!(msg, "unknown guard `locked`");
    assert_eq!((line, col), (9, 23));
}

#[test]
fn unknown_path() {
    let (msg, line, col) = only_error(&BASE.replace("/ creak", "/ creak visitor 1"));
    assert_eq!(msg, "unknown path `visitor`");
    assert_eq!((line, col), (7, 30));
}

#[test]
fn duplicate_declaration_names_the_first_line() {
    let (msg, line, col) = only_error(&BASE.replace(
        "state SHUT \"shut\"",
        "state SHUT \"shut\"\nstate OPEN \"again\"",
    ));
    assert_eq!(
        msg,
        "duplicate state `OPEN`: a state of that name is declared on line 2"
    );
    assert_eq!((line, col), (4, 7));
}

#[test]
fn group_named_like_a_state() {
    let (msg, line, col) = only_error(&with("group OPEN = SHUT\n"));
    assert_eq!(
        msg,
        "duplicate group `OPEN`: a state of that name is declared on line 2"
    );
    assert_eq!((line, col), (9, 7));
}

#[test]
fn state_listed_twice_in_a_group() {
    // OPEN leaves on pull instead of push, so that `both` staying on push
    // is the only transition on push.
    let src = with("group both = OPEN, SHUT, OPEN\nboth -> same on push\n").replace(
        "OPEN -> SHUT on push / creak\n",
        "OPEN -> SHUT on pull / creak\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "state `OPEN` is listed twice in group `both`");
    assert_eq!((line, col), (9, 26));
}

#[test]
fn missing_initial_state() {
    let (msg, line, col) = only_error(&BASE.replace(" initial", ""));
    assert_eq!(msg, "machine `Door` has no initial state");
    assert_eq!((line, col), (1, 9));
}

#[test]
fn second_initial_state() {
    let (msg, line, col) = only_error(&BASE.replace("state SHUT", "state SHUT initial"));
    assert_eq!(msg, "more than one initial state: `OPEN` and `SHUT`");
    assert_eq!((line, col), (3, 7));
}

#[test]
fn unreachable_state() {
    let (msg, line, col) = only_error(&with("state AJAR \"ajar\"\nAJAR -> OPEN on pull\n"));
    assert_eq!(
        msg,
        "state `AJAR` is unreachable from the initial state `OPEN`"
    );
    assert_eq!((line, col), (9, 7));
}

#[test]
fn state_that_cannot_get_back() {
    let (msg, line, col) = only_error(&with("state GONE \"gone\"\nSHUT -> GONE on push\n"));
    assert_eq!(
        msg,
        "state `GONE` can never get back to the initial state `OPEN`"
    );
    assert_eq!((line, col), (9, 7));
}

#[test]
fn state_left_only_on_segments_warns() {
    // WAIT is left only when a segment comes; its self-loop on a call does
    // not lead out.
    let src = with(
        "event rcv segment \"rcv\"\nstate WAIT \"wait\"\nSHUT -> WAIT on push\n\
         WAIT -> OPEN on rcv\nWAIT -> same on push\n",
    );
    let d = diags(&src);
    assert_eq!(d.len(), 1, "{d:#?}");
    let (sev, msg, line, col) = &d[0];
    assert_eq!(*sev, Severity::Warning);
    assert_eq!(
        msg,
        "state `WAIT` can be left only on segment events: no call or timer leads out of it, \
         so a connection can stay in it forever"
    );
    assert_eq!((*line, *col), (10, 7));
    let rendered = compile("test.fsm", &src).unwrap().render_warnings();
    assert!(
        rendered.contains("help: add a transition out of it on a timer or a call, like `WAIT -> OPEN on push / ...`"),
        "{rendered}"
    );
    // A state with no way out at all has its error already, and no warning.
    let d = diags(&with(
        "event rcv segment \"rcv\"\nstate GONE \"gone\"\nSHUT -> GONE on rcv\n",
    ));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].1.contains("can never get back"), "{d:#?}");
}

#[test]
fn duplicate_transition_names_both_lines() {
    let src = BASE.replace(
        "SHUT -> OPEN on pull\n",
        "SHUT -> OPEN on pull\nSHUT -> OPEN on pull\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(
        msg,
        "duplicate transition: line 9 repeats line 8 (`SHUT` on `pull`)"
    );
    assert_eq!((line, col), (9, 1));
}

#[test]
fn two_unguarded_transitions_on_one_event() {
    let (msg, line, col) = only_error(&with("SHUT -> SHUT on pull / creak\n"));
    assert_eq!(
        msg,
        "transitions on lines 8 and 9 both fire on `pull` in `SHUT`: neither has a guard"
    );
    assert_eq!((line, col), (9, 1));
}

#[test]
fn overlapping_guards() {
    let src = with(
        "guard a \"a\"\nguard b \"b\"\nSHUT -> SHUT on push [a]\nSHUT -> OPEN on push [b && !a || b]\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(
        msg,
        "transitions on lines 11 and 12 both fire on `push` in `SHUT`: `a` and `b && !a || b` can both hold"
    );
    assert_eq!((line, col), (12, 1));
}

#[test]
fn exclusive_guards_are_accepted() {
    let src = with("guard a \"a\"\nSHUT -> SHUT on push [a]\nSHUT -> OPEN on push [!a]\n");
    assert_eq!(diags(&src), vec![]);
}

#[test]
fn guards_too_large_to_prove_exclusive_warn() {
    let names: Vec<String> = (0..17).map(|i| format!("g{i}")).collect();
    let decls: String = names
        .iter()
        .map(|n| format!("guard {n} \"{n}\"\n"))
        .collect();
    let all = names.join(" && ");
    let src = with(&format!(
        "{decls}SHUT -> SHUT on push [{all}]\nSHUT -> OPEN on push [!g0]\n"
    ));
    let d = diags(&src);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].0, Severity::Warning);
    assert!(
        d[0].1
            .starts_with("cannot prove the guards on lines 26 and 27 exclusive"),
        "{}",
        d[0].1
    );
    assert_eq!((d[0].2, d[0].3), (27, 1));
}

#[test]
fn source_listed_twice_in_a_transition() {
    let (msg, line, col) = only_error(&with("OPEN, OPEN -> same on pull\n"));
    assert_eq!(msg, "state `OPEN` is a source of this transition twice");
    assert_eq!((line, col), (9, 7));
}

#[test]
fn path_step_given_twice() {
    let src = format!(
        "{}path p solid circled \"p\"\n",
        BASE.replace("/ creak", "/ creak p 1")
            .replace("on pull", "on pull p 1")
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "step 1 of path `p` is given twice (first on line 7)");
    assert_eq!((line, col), (8, 22));
}

#[test]
fn path_with_a_gap() {
    let src = format!(
        "{}path p solid circled \"p\"\n",
        BASE.replace("/ creak", "/ creak p 2")
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "path `p` has no step 1 before step 2");
    assert_eq!((line, col), (7, 30));
}

#[test]
fn path_that_jumps() {
    let src = format!(
        "{}path p solid circled \"p\"\n",
        BASE.replace("state SHUT \"shut\"", "state SHUT \"shut\" p 1")
            .replace("/ creak", "/ creak p 2")
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(
        msg,
        "step 2 of path `p` starts in `OPEN`, but step 1 ended in `SHUT`"
    );
    assert_eq!((line, col), (7, 30));
}

#[test]
fn path_step_on_a_multi_source_transition() {
    let src = format!(
        "{}path p solid circled \"p\"\nany -> OPEN on pull p 1\n",
        BASE.replace("SHUT -> OPEN on pull\n", "")
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(
        msg,
        "a step of path `p` must be a transition from one state"
    );
    assert_eq!((line, col), (9, 21));
}

#[test]
fn unused_declarations_warn() {
    let src = with(
        "event kick call \"kick\"\naction bang \"bang\"\nguard g \"g\"\npath p solid boxed \"p\"\ngroup all = OPEN, SHUT\n",
    );
    let d = diags(&src);
    let got: Vec<(String, usize, usize)> = d
        .iter()
        .map(|(sev, m, l, c)| {
            assert_eq!(*sev, Severity::Warning);
            (m.clone(), *l, *c)
        })
        .collect();
    // No transition starts from `all`, and that is fine: a runtime may read
    // the group through its vocabulary.
    assert_eq!(
        got,
        vec![
            ("event `kick` is declared but never used".to_owned(), 9, 7),
            ("action `bang` is declared but never used".to_owned(), 10, 8),
            ("guard `g` is declared but never used".to_owned(), 11, 7),
            ("path `p` is declared but never used".to_owned(), 12, 6),
        ]
    );
    // Warnings do not reject the spec.
    assert!(compile("w.fsm", &src).is_ok());
}

#[test]
fn tcp_fsm_has_no_errors_and_no_warnings() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm");
    let spec = fsm_codegen::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(spec.warnings.is_empty(), "{}", spec.render_warnings());
    assert_eq!(spec.model.states.len(), 11);
}

#[test]
fn congestion_fsm_has_no_errors_and_no_warnings() {
    for file in [
        "congestion.fsm",
        "examples/specs/congestion/tahoe.fsm",
        "examples/specs/congestion/no_congestion_control.fsm",
        "examples/specs/congestion/bbr.fsm",
    ] {
        let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
        let spec = fsm_codegen::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(spec.warnings.is_empty(), "{}", spec.render_warnings());
    }
}

#[test]
fn an_rfc_reference_takes_a_section_or_a_number_and_a_section() {
    let spec = compile(
        "rfc.fsm",
        &BASE
            .replace("/ creak\n", "/ creak  rfc 5681 3.2\n")
            .replace("on pull\n", "on pull  rfc 3.10.7\n"),
    )
    .unwrap_or_else(|r| panic!("{}", r.render()));
    let rfcs: Vec<Option<&str>> = spec
        .model
        .transitions
        .iter()
        .map(|t| t.rfc.as_deref())
        .collect();
    assert_eq!(rfcs, [Some("5681 3.2"), Some("3.10.7")]);
    // A number alone is a section of the machine's own RFC.
    let spec = compile("rfc.fsm", &BASE.replace("on pull\n", "on pull rfc 793\n")).unwrap();
    assert_eq!(spec.model.transitions[1].rfc.as_deref(), Some("793"));
    // What is not a section says what was expected, where.
    let (msg, line, col) = only_error(&BASE.replace("on pull\n", "on pull rfc x\n"));
    assert!(msg.contains("rfc 5681 3.2"), "{msg}");
    assert_eq!((line, col), (8, 26), "{msg}");
}

// ---- Messages ------------------------------------------------------------

/// BASE with a message that `creak` sends and a segment event it raises.
fn with_messages(message_decls: &str, event: &str, action: &str) -> String {
    BASE.replace(
        "action creak \"creak\"\n",
        &format!("{message_decls}{event}{action}"),
    )
    .replace(
        "SHUT -> OPEN on pull\n",
        "SHUT -> OPEN on pull\nSHUT -> same on hear\n",
    )
}

#[test]
fn messages_sent_and_received_are_clean() {
    let src = with_messages(
        "message CREAK \"a creak\"\n",
        "event hear segment on CREAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    assert_eq!(diags(&src), vec![]);
}

#[test]
fn an_unknown_message_is_an_error_at_its_place_with_a_suggestion() {
    let src = with_messages(
        "message CREAK \"a creak\"\n",
        "event hear segment on CREAK \"hear it\"\n",
        "action creak sends CRAEK \"creak\"\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "unknown message `CRAEK`");
    assert_eq!((line, col), (8, 20));
    let d = match compile("test.fsm", &src) {
        Err(r) => r.diagnostics,
        Ok(_) => unreachable!(),
    };
    assert!(
        d[0].notes
            .iter()
            .any(|n| n.contains("did you mean `CREAK`")),
        "{:?}",
        d[0].notes
    );
}

#[test]
fn a_message_raising_a_call_or_timer_event_is_an_error() {
    let src = with_messages(
        "message CREAK \"a creak\"\n",
        "event hear timer on CREAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(
        msg,
        "event `hear` is a timer event: only segment events are raised by messages"
    );
    assert_eq!((line, col), (7, 21));
}

#[test]
fn a_message_listed_twice_for_an_event_is_an_error() {
    let src = with_messages(
        "message CREAK \"a creak\"\n",
        "event hear segment on CREAK, CREAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    let (msg, line, col) = only_error(&src);
    assert_eq!(msg, "message `CREAK` is listed twice for event `hear`");
    assert_eq!((line, col), (7, 30));
}

#[test]
fn a_message_declared_twice_is_an_error() {
    let src = with_messages(
        "message CREAK \"a creak\"\nmessage CREAK \"again\"\n",
        "event hear segment on CREAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    let (msg, line, _) = only_error(&src);
    assert!(msg.contains("`CREAK`"), "{msg}");
    assert_eq!(line, 7);
}

#[test]
fn a_message_nothing_sends_or_raises_is_a_warning_one_way_is_not() {
    // Sent, never received: the peer may be another machine.
    let src = with_messages(
        "message CREAK \"a creak\"\nmessage SQUEAK \"a squeak\"\n",
        "event hear segment on SQUEAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    assert_eq!(diags(&src), vec![]);
    let src = with_messages(
        "message CREAK \"a creak\"\nmessage UNUSED \"nothing\"\n",
        "event hear segment on CREAK \"hear it\"\n",
        "action creak sends CREAK \"creak\"\n",
    );
    assert_eq!(
        diags(&src),
        vec![(
            Severity::Warning,
            "message `UNUSED` is declared but never used".to_owned(),
            7,
            9
        )]
    );
}

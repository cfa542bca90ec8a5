//! The `fsm` binary as users run it: exit codes and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fsm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(args)
        .output()
        .expect("run fsm")
}

fn tcp_fsm() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tcp.fsm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory for this test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fsm-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_accepts_tcp_fsm_without_warnings() {
    let o = fsm(&["check", tcp_fsm().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "no warnings expected");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("ok: machine Tcp, 11 states"), "{out}");
}

#[test]
fn a_misspelt_target_fails_naming_it_and_its_line() {
    let src = std::fs::read_to_string(tcp_fsm()).unwrap();
    let (n, line) = src
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("SYN_SENT -> ESTABLISHED"))
        .unwrap();
    let bad = src.replacen(line, &line.replacen("ESTABLISHED", "ESTABLISHD", 1), 1);
    let dir = scratch("misspelt");
    let file = dir.join("tcp.fsm");
    std::fs::write(&file, bad).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .current_dir(&dir)
        .args(["check", "tcp.fsm"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("unknown state `ESTABLISHD`"), "{err}");
    assert!(err.contains(&format!("tcp.fsm:{}:", n + 1)), "{err}");
    assert!(err.contains("did you mean `ESTABLISHED`?"), "{err}");
}

#[test]
fn a_duplicated_transition_fails_naming_both_lines() {
    let src = std::fs::read_to_string(tcp_fsm()).unwrap();
    let (n, line) = src
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("ESTABLISHED -> CLOSE_WAIT"))
        .unwrap();
    // Duplicate the line without its path step, which would be a second error.
    let copy = line.replace("server 5", "");
    let bad = src.replacen(line, &format!("{line}\n{copy}"), 1);
    let dir = scratch("duplicate");
    let file = dir.join("tcp.fsm");
    std::fs::write(&file, bad).unwrap();
    let o = fsm(&["check", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let (first, second) = (n + 1, n + 2);
    assert!(
        err.contains(&format!("line {second} repeats line {first}")),
        "{err}"
    );
    assert!(err.contains(&format!("tcp.fsm:{second}:1")), "{err}");
}

#[test]
fn unusable_files_get_one_line_and_exit_1() {
    let dir = scratch("unusable");
    let empty = dir.join("empty.fsm");
    std::fs::write(&empty, "  \n// nothing\n").unwrap();
    let binary = dir.join("binary.fsm");
    std::fs::write(&binary, b"machine \xff\xfe").unwrap();
    let missing = dir.join("missing.fsm");
    let cases = [
        (missing.clone(), "No such file"),
        (dir.clone(), "is a directory"),
        (binary, "not UTF-8"),
        (empty, "empty spec"),
    ];
    for command in ["check", "dot", "mermaid", "stats", "rust"] {
        for (path, why) in &cases {
            let o = fsm(&[command, path.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(1), "{command} {}", path.display());
            let err = stderr(&o);
            assert_eq!(err.lines().count(), 1, "{command}: {err}");
            assert!(
                err.starts_with("fsm: ") && err.contains(why),
                "{command}: {err}"
            );
        }
    }
}

#[test]
fn warnings_do_not_fail_check() {
    let dir = scratch("warnings");
    let file = dir.join("w.fsm");
    std::fs::write(
        &file,
        "machine W \"w\"\nstate A initial \"a\"\nevent e call \"e\"\nevent unused call \"u\"\nA -> same on e\n",
    )
    .unwrap();
    let o = fsm(&["check", file.to_str().unwrap()]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("warning: event `unused` is declared but never used"),
        "{err}"
    );
    assert!(err.contains("w.fsm:4:7"), "{err}");
}

#[test]
fn stats_lists_counts_and_degrees() {
    let o = fsm(&["stats", tcp_fsm().to_str().unwrap()]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("states       11"), "{out}");
    assert!(out.contains("transitions  40 (87 edges"), "{out}");
    let closed = out.lines().find(|l| l.starts_with("CLOSED ")).unwrap();
    let cols: Vec<&str> = closed.split_whitespace().collect();
    assert_eq!(cols.len(), 3, "{closed}");
    // Resets, ABORTs and timeouts end in CLOSED, so many arrows end there.
    assert!(cols[1].parse::<usize>().unwrap() >= 11, "{closed}");
}

#[test]
fn an_unknown_language_is_refused() {
    let o = fsm(&["dot", tcp_fsm().to_str().unwrap(), "--lang", "fr"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no `fr` labels (languages: en, zh)"),
        "{}",
        stderr(&o)
    );
}

mod arbitrary_files {
    //! Arbitrary bytes as a spec file: every command and the macro's
    //! expansion answer with a diagnostic or output, never a panic.

    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        #[test]
        fn never_panic_the_cli_or_the_macro(
            bytes in prop::collection::vec(any::<u8>(), 0..400),
            spec_words in prop::sample::subsequence(
                vec!["machine M \"m\"\n", "state A initial \"a\"\n", "event e call \"e\"\n",
                     "A -> same on e\n", "A -> B on\n", "zh \"\u{4e2d}\"\n", "\u{ff}"],
                0..7,
            ),
        ) {
            let dir = scratch("arbitrary");
            // Half the cases: raw bytes; half: spec-like text with bytes after it.
            let mut content: Vec<u8> = spec_words.concat().into_bytes();
            content.extend_from_slice(&bytes);
            let file = dir.join("x.fsm");
            std::fs::write(&file, &content).unwrap();
            for command in ["check", "dot", "mermaid", "stats", "rust"] {
                let o = fsm(&[command, file.to_str().unwrap()]);
                let code = o.status.code();
                prop_assert!(code == Some(0) || code == Some(1), "{command}: {code:?}");
                prop_assert!(!stderr(&o).contains("panicked"), "{command}: {}", stderr(&o));
            }
            let o = fsm(&["svg", file.to_str().unwrap(), "-o", dir.join("x.svg").to_str().unwrap()]);
            prop_assert!(matches!(o.status.code(), Some(0 | 1)));
            let input: proc_macro2::TokenStream = "\"x.fsm\"".parse().unwrap();
            let out = fsm_codegen::rust::expand_macro(input, &dir).to_string();
            prop_assert!(!out.is_empty());
        }
    }
}

#[test]
fn fmt_check_fails_on_an_unformatted_file_and_leaves_it_alone() {
    let dir = scratch("fmt-check");
    let messy = dir.join("messy.fsm");
    let tidy = dir.join("tidy.fsm");
    let src = "machine M \"m\"\nstate A initial \"a\"\nstate BB \"b\"\n";
    std::fs::write(&messy, src).unwrap();
    std::fs::write(
        &tidy,
        "machine M \"m\"\nstate A  initial \"a\"\nstate BB \"b\"\n",
    )
    .unwrap();

    let o = fsm(&["fmt", "--check", tidy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = fsm(&[
        "fmt",
        "--check",
        tidy.to_str().unwrap(),
        messy.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("messy.fsm:2: not formatted"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("tidy.fsm"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        src,
        "--check writes nothing"
    );

    let o = fsm(&["fmt", messy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = fsm(&["fmt", "--check", messy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn fmt_dash_reads_stdin_and_writes_stdout() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(["fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"machine   M \"m\"  // c\n\n\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "machine M \"m\"  // c\n"
    );
}

#[test]
fn tour_covers_every_pair_and_guard_outcome_of_tcp_fsm() {
    let tcp = tcp_fsm();
    let tcp = tcp.to_str().unwrap();
    let o = fsm(&["tour", tcp, "--history", "passive:LISTEN/SYN_SENT"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let head = out.lines().next().unwrap_or_default();
    assert!(head.contains(": 87 pairs in "), "{head}");
    assert!(head.ends_with("guard outcomes 14/14"), "{head}");
    // `passive` is the path's: the reset that sends SYN_RCVD back to
    // CLOSED comes after a simultaneous open, through SYN_SENT.
    let active = out
        .lines()
        .find(|l| l.contains("SYN_RCVD -rcv_rst [!passive]-> CLOSED"))
        .expect("a sequence takes it");
    assert!(
        active.contains("CLOSED -active_open-> SYN_SENT"),
        "{active}"
    );

    // The same as one JSON object: every pair appears, every sequence
    // starts in CLOSED and each step starts where the last one ended.
    let o = fsm(&[
        "tour",
        tcp,
        "--history",
        "passive:LISTEN/SYN_SENT",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["pairs_taken"], 87);
    assert_eq!(v["outcomes_taken"], v["outcomes"]);
    let mut pairs = std::collections::BTreeSet::new();
    for seq in v["sequences"].as_array().unwrap() {
        let mut at = "CLOSED";
        for step in seq.as_array().unwrap() {
            assert_eq!(step["from"], at, "{seq}");
            at = step["to"].as_str().unwrap();
            if let Some(p) = step["pair"].as_u64() {
                pairs.insert(p);
            }
        }
    }
    assert_eq!(pairs.len(), 87);

    // A history naming a state the spec lacks is refused.
    let o = fsm(&["tour", tcp, "--history", "passive:AJAR"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no state `AJAR`"), "{}", stderr(&o));
}

#[test]
fn explore_reports_findings_with_their_schedule_and_exits_1() {
    let dir = scratch("explore");
    let client = dir.join("client.fsm");
    let server = dir.join("server.fsm");
    std::fs::write(
        &client,
        "machine Client \"asks once\"\n\
         state IDLE initial \"idle\"\n\
         state WAITING \"waiting\"\n\
         event ask call \"ask\"\n\
         event rcv_answer segment on ANSWER \"answer\"\n\
         action send_question sends QUESTION \"question\"\n\
         message QUESTION \"q\"\n\
         message ANSWER \"a\"\n\
         IDLE -> WAITING on ask / send_question\n\
         WAITING -> IDLE on rcv_answer\n",
    )
    .unwrap();
    std::fs::write(
        &server,
        "machine Server \"answers\"\n\
         state READY initial \"ready\"\n\
         event rcv_question segment on QUESTION \"question\"\n\
         action send_answer sends ANSWER \"answer\"\n\
         message QUESTION \"q\"\n\
         message ANSWER \"a\"\n\
         READY -> same on rcv_question / send_answer\n",
    )
    .unwrap();
    let (c, s) = (client.to_str().unwrap(), server.to_str().unwrap());
    let clean = fsm(&["explore", c, s]);
    let out = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{out}{}", stderr(&clean));
    assert!(out.contains("findings                0"), "{out}");
    assert!(
        out.contains("bytes/state") && out.contains("states/s"),
        "{out}"
    );

    let chart = dir.join("lost.svg");
    let lossy = fsm(&[
        "explore",
        c,
        s,
        "--loss",
        "1",
        "--svg",
        chart.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&lossy.stdout);
    assert_eq!(lossy.status.code(), Some(1), "{out}");
    assert!(
        out.contains("deadlock: A in WAITING, B in READY, and no move"),
        "{out}"
    );
    assert!(
        out.contains("1. A ask: IDLE -ask-> WAITING (line 9), sends QUESTION"),
        "{out}"
    );
    assert!(
        out.contains("2. the network loses QUESTION on its way to B"),
        "{out}"
    );
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.contains("<svg") && svg.contains("deadlock"), "{svg}");

    assert!(out.contains("[1] deadlock"), "{out}");
    let none = fsm(&[
        "explore",
        c,
        s,
        "--loss",
        "1",
        "--svg",
        chart.to_str().unwrap(),
        "--finding",
        "2",
    ]);
    assert!(
        stderr(&none).contains("--finding 2: the findings are numbered 1 to 1"),
        "{}",
        stderr(&none)
    );

    let bad = fsm(&["explore", c, s, "--capacity", "0"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--capacity 0"), "{}", stderr(&bad));
}

//! The conformance tester: the runtime agrees with tcp.fsm on every pair
//! (none untestable); the tester tells a runtime that does not;
//! CONFORMANCE.md is current for the deterministic columns; and, as root,
//! the Linux column runs with at least 80% of the pairs testable.

use fsm_lab::conformance::matrix::{self, Totals};
use fsm_lab::conformance::{self, Spec, Verdict, findings, linux, ours::Ours};
use fsm_runtime::loaded::Loaded;

fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CONFORMANCE.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_runtime_agrees_on_every_pair() {
    let spec = Spec::tcp();
    let verdicts = spec.run(&mut Ours::new(fsm_runtime::tcp::Spec));
    assert_eq!(verdicts.len(), spec.pairs.len());
    let mut bad = Vec::new();
    for (p, v) in spec.pairs.iter().zip(&verdicts) {
        match v {
            Verdict::Agree => {}
            Verdict::Untestable(why) if !why.trim().is_empty() => {}
            v => bad.push(format!("{}: {v:?}", p.describe())),
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n\n"));
    let t = Totals::of(&verdicts);
    println!(
        "our runtime: {} agree, {} untestable of {}",
        t.agree,
        t.untestable,
        t.total()
    );
    // tcp.fsm claims nothing the runtime cannot be driven through.
    assert_eq!(t.untestable, 0, "{t:?}");
}

#[test]
fn a_runtime_that_parts_from_the_spec_is_told() {
    // The runtime under a variant that ignores an RST in ESTABLISHED,
    // held against tcp.fsm.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/specs/rst_ignored_in_established.fsm"
    );
    let variant = Loaded::load(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec = Spec::tcp();
    let verdicts = spec.run(&mut Ours::new(variant));
    let at = |from: &str, event: &str| {
        spec.pairs
            .iter()
            .zip(&verdicts)
            .find(|(p, _)| p.from == from && p.event == event)
            .map(|(_, v)| v.clone())
            .expect("tcp.fsm has the pair")
    };
    let Verdict::Differs(evidence) = at("ESTABLISHED", "rcv_rst") else {
        panic!("not told: {:?}", at("ESTABLISHED", "rcv_rst"));
    };
    assert!(
        evidence.contains("state ESTABLISHED (tcp.fsm: CLOSED)"),
        "{evidence}"
    );
    assert!(evidence.contains("> RST seq=p+1"), "{evidence}");
    // The same RST elsewhere still agrees.
    assert_eq!(at("FIN_WAIT_1", "rcv_rst"), Verdict::Agree);
}

/// The section `## NAME` of a matrix, up to the next one.
fn section<'a>(markdown: &'a str, name: &str) -> &'a str {
    let head = format!("\n## {name}\n");
    let Some(start) = markdown.find(&head) else {
        return "";
    };
    let rest = &markdown[start + head.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn conformance_md_is_current_for_the_deterministic_columns() {
    let spec = Spec::tcp();
    let text = committed();
    for column in conformance::deterministic_columns(&spec) {
        let now = matrix::table_cells(&column).expect("run");
        assert!(
            !section(&text, &column.name).is_empty(),
            "no section `{}`",
            column.name
        );
        let written = matrix::read_cells(&text, &column.name)
            .unwrap_or_else(|| panic!("CONFORMANCE.md has no column `{}`", column.name));
        let stale = format!(
            "CONFORMANCE.md's `{}` column is stale: run `cargo run -p fsm-lab --example \
             conformance` (as root for the Linux column)",
            column.name
        );
        assert_eq!(written, now, "{stale}");
        // Its section too: the evidence and the reasons.
        let fresh = matrix::markdown(&spec, std::slice::from_ref(&column), "", &findings::class);
        assert_eq!(
            section(&text, &column.name),
            section(&fresh, &column.name),
            "{stale}"
        );
    }
}

/// Runs the Linux column in a namespace of its own (this test again,
/// inside it); skipped without root or TUN, except in CI.
#[test]
fn linux_column() {
    let spec = Spec::tcp();
    if let Some(file) = linux::inner_target() {
        let code = linux::inner_main(&spec, &file);
        assert_eq!(code, std::process::ExitCode::SUCCESS);
        return;
    }
    if let Some(why) = fsm_lab::netns::why_skip() {
        fsm_runtime::testing::skip(&why);
        return;
    }
    let column = linux::column(
        &spec,
        &[
            "--exact",
            "linux_column",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ],
    );
    let verdicts = column.result.unwrap_or_else(|e| panic!("{e}"));
    let t = Totals::of(&verdicts);
    println!(
        "{}: {} agree, {} differ, {} untestable ({:.0}% testable)",
        column.name,
        t.agree,
        t.differs,
        t.untestable,
        t.percent_testable()
    );
    assert!(t.percent_testable() >= 80.0, "{t:?}");
    for (p, v) in spec.pairs.iter().zip(&verdicts) {
        if let Verdict::Untestable(why) = v {
            assert!(
                !why.trim().is_empty(),
                "{} untestable without a reason",
                p.describe()
            );
        }
    }
}

//! The generated API documents the machine: the machine type's page shows
//! the spec's figure (inline SVG), and each state type lists the
//! transitions into and out of it.

use std::path::PathBuf;

fn tcp_rust() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tcp.fsm");
    let spec = fsm_codegen::load(&path).unwrap_or_else(|e| panic!("{e}"));
    fsm_codegen::rust::generate_file(&spec).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_machine_type_shows_the_figure() {
    let code = tcp_rust();
    let figure = code
        .lines()
        .find(|l| l.contains("fsm-diagram"))
        .expect("the figure in the docs");
    // One line (a Markdown HTML block ends at a blank line), scaled to
    // the page, the figure's own title in it.
    assert!(figure.contains("<svg style=\"max-width: 100%; height: auto\""));
    assert!(figure.contains("TCP connection state machine (RFC 9293)"));
    let before = &code[..code.find("fsm-diagram").unwrap()];
    let machine = before
        .rfind("The machine `Tcp` in state")
        .expect("on the machine type");
    assert!(before[machine..].contains("# The spec's figure"));
}

#[test]
fn each_state_type_lists_its_transitions() {
    let code = tcp_rust();
    let fin_wait_1 = code
        .find("The state `FIN_WAIT_1` as a type")
        .expect("FIN_WAIT_1's type");
    let doc = &code[fin_wait_1..code[fin_wait_1..].find("pub struct").unwrap() + fin_wait_1];
    assert!(doc.contains("# Transitions from here"), "{doc}");
    assert!(
        doc.contains("`ACK [our FIN acked] / –` → `FIN_WAIT_2` (`rcv_ack`, line"),
        "{doc}"
    );
    assert!(doc.contains("# Transitions into here"), "{doc}");
    assert!(
        doc.contains("`CLOSE / FIN` ← `ESTABLISHED` (`close`, line"),
        "{doc}"
    );
}

#[test]
fn a_big_machine_goes_without_the_figure() {
    let mut src = String::from("machine Big \"big\"\nevent go call \"go\"\n");
    for i in 0..20 {
        let initial = if i == 0 { " initial" } else { "" };
        src.push_str(&format!("state S{i}{initial} \"s{i}\"\n"));
    }
    for i in 0..20 {
        src.push_str(&format!("S{i} -> S{} on go\n", (i + 1) % 20));
    }
    let spec = fsm_codegen::compile("big.fsm", &src).unwrap_or_else(|e| panic!("{e}"));
    let code = fsm_codegen::rust::generate_file(&spec).unwrap();
    assert!(!code.contains("fsm-diagram"));
    assert!(code.contains("# Transitions from here"));
}

//! The echo example as users run it: one server, several clients at once,
//! the server capturing to pcap; tshark then decodes every packet as TCP
//! with good checksums (without tshark that check is skipped, except in CI,
//! `CI=true`, where it fails). And a client running a variant spec against
//! a stock server.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Reap, example, free_port, read_trace_json, scratch, workspace_file};

/// Waits, at most 30 s, for the server to stop by itself (after
/// `--clients` connections); answers whether it succeeded and its output.
fn server_ends(server: &mut Reap) -> (bool, String) {
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    if let Some(mut out) = server.0.stdout.take() {
        use std::io::Read as _;
        out.read_to_string(&mut log).unwrap();
    }
    (status.success(), log)
}

#[test]
fn an_echo_server_serves_concurrent_clients_and_its_capture_decodes() {
    let echo = example("echo");
    let dir = scratch("echo");
    let pcap = dir.join("server.pcap");
    let addr = format!("127.0.0.1:{}", free_port());
    let clients = 4;
    let server = Command::new(&echo)
        .args([
            "--listen",
            &addr,
            "--msl-ms",
            "50",
            "--clients",
            &clients.to_string(),
            "--pcap",
        ])
        .arg(&pcap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Reap(server);
    std::thread::sleep(Duration::from_millis(300));

    let runs: Vec<Child> = (0..clients)
        .map(|i| {
            let mut c = Command::new(&echo);
            c.args(["--connect", &addr, "--msl-ms", "50", "--timeout", "30"]);
            if i % 2 == 0 {
                c.args(["--bytes", "300000"]);
            } else {
                c.args(["--message", &format!("hello from client {i}")]);
            }
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "client failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("intact") && text.contains("final state CLOSED"),
            "{text}"
        );
    }
    let (ok, log) = server_ends(&mut server);
    assert!(ok, "{log}");
    assert!(log.contains("LAST_ACK -> CLOSED"), "{log}");
    assert_eq!(log.matches("bytes echoed to").count(), clients, "{log}");

    match fsm_runtime::testing::check_with_tshark(&pcap) {
        Ok(None) => fsm_runtime::testing::skip("the capture check: tshark not found"),
        Ok(Some(n)) => {
            assert!(n > 100, "{n} packets");
            println!("{n} packets in the capture, all TCP with good checksums");
        }
        Err(e) => panic!("{e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client running no_time_wait.fsm (loaded at run time) against a
/// server running tcp.fsm: they interoperate, and the client closes
/// without TIME_WAIT.
#[test]
fn a_variant_client_talks_to_a_stock_server() {
    let echo = example("echo");
    let dir = scratch("echo-variant");
    let trace = dir.join("client.jsonl");
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Command::new(&echo)
        .args(["--listen", &addr, "--msl-ms", "50", "--clients", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Reap(server);
    std::thread::sleep(Duration::from_millis(300));

    let out = Command::new(&echo)
        .args(["--connect", &addr, "--msl-ms", "50", "--timeout", "5"])
        .args(["--bytes", "100000", "--spec"])
        .arg(workspace_file("examples/specs/no_time_wait.fsm"))
        .arg("--trace-json")
        .arg(&trace)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("100000 of 100000 bytes echoed intact")
            && text.contains("final state CLOSED"),
        "{text}"
    );
    let lines = read_trace_json(&trace);
    assert_eq!(lines[0]["event"], "active_open");
    assert_eq!(lines.last().unwrap()["to"], "CLOSED");
    assert!(lines.iter().all(|l| l["side"] == "client"));

    let (ok, log) = server_ends(&mut server);
    assert!(ok, "{log}");
    assert!(log.contains("LAST_ACK -> CLOSED"), "{log}");
    assert!(log.contains("100000 bytes echoed to"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

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

/// An echo server at `addr` for one client, with `more` arguments, given
/// 300 ms to start.
fn one_client_server(addr: &str, more: &[&std::ffi::OsStr]) -> Reap {
    let server = Command::new(example("echo"))
        .args(["--listen", addr, "--msl-ms", "50", "--clients", "1"])
        .args(more)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    Reap(server)
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
    let mut server = one_client_server(&addr, &[]);

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
    // The connection machine's last line (a congestion line of the same
    // round, a timeout under load, may come after it: docs/trace-json.md,
    // "Order").
    let mut variant = lines.iter().filter(|l| {
        l["spec"]
            .as_str()
            .is_some_and(|s| s.ends_with("no_time_wait.fsm"))
    });
    assert_eq!(
        variant.next_back().expect("the variant's lines")["to"],
        "CLOSED"
    );
    assert!(lines.iter().all(|l| l["side"] == "client"));

    let (ok, log) = server_ends(&mut server);
    assert!(ok, "{log}");
    assert!(log.contains("LAST_ACK -> CLOSED"), "{log}");
    assert!(log.contains("100000 bytes echoed to"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server echoing through a lossy link (5% of its datagrams dropped,
/// 5% reordered) with each recovery spec, loaded at run time: the data
/// comes back intact, and the server's log shows the recovery machine of
/// that spec repairing losses. A spec that is no recovery spec is refused with
/// its diagnostics.
#[test]
fn a_server_repairs_losses_with_the_recovery_spec_it_is_given() {
    let echo = example("echo");
    let dir = scratch("echo-recovery");
    for (spec, machine) in [
        ("recovery.fsm", "RackTlp"),
        ("examples/specs/recovery/newreno.fsm", "NewRenoRecovery"),
    ] {
        let addr = format!("127.0.0.1:{}", free_port());
        let recovery = workspace_file(spec);
        let mut server = one_client_server(
            &addr,
            &[
                "--faults".as_ref(),
                "loss=0.05,reorder=0.05,seed=7".as_ref(),
                "--recovery-spec".as_ref(),
                recovery.as_os_str(),
            ],
        );
        let out = Command::new(&echo)
            .args(["--connect", &addr, "--msl-ms", "50", "--timeout", "20"])
            .args(["--bytes", "300000"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{spec}: client failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("300000 of 300000 bytes echoed intact"),
            "{spec}: {text}"
        );
        let (ok, log) = server_ends(&mut server);
        assert!(ok, "{log}");
        // The server prints its recovery machine's transitions, marked.
        let repairs = log
            .lines()
            .filter(|l| l.ends_with("[recovery]") && l.contains("-> RECOVERY"))
            .count();
        assert!(repairs > 0, "{machine} ({spec}) repaired nothing: {log}");
    }
    let out = Command::new(&echo)
        .args(["--connect", "127.0.0.1:9", "--recovery-spec"])
        .arg(workspace_file("congestion.fsm"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("congestion.fsm:") && err.contains("fsm_runtime::recovery"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! The handshake example as users run it: under tcp.fsm, under a variant
//! from `--spec`, with a spec that does not fit the runtime, and with
//! `--trace-json` and `--watch`.

mod support;

use std::process::{Command, Output};

use support::{example, read_trace_json, scratch, workspace_file};

/// Runs the handshake example with `args` and a short MSL.
fn handshake(args: &[&std::ffi::OsStr]) -> (Output, String, String) {
    let out = Command::new(example("handshake"))
        .args(["--msl-ms", "50"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

#[test]
fn under_tcp_fsm_both_sides_follow_their_whole_path() {
    let (out, stdout, stderr) = handshake(&[]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("client: steps 1-7 followed, the whole path"),
        "{stdout}"
    );
    assert!(
        stdout.contains("server: steps 1-7 followed, the whole path"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok: the data came back intact and both ends closed (CLOSED)"),
        "{stdout}"
    );
}

/// no_time_wait.fsm's client path has six steps, the last FIN_WAIT_2 ->
/// CLOSED: the run follows every step the variant declares (tcp.fsm's
/// seventh, TIME_WAIT -> CLOSED, is not in it), and passes.
#[test]
fn a_variant_without_time_wait_passes_and_reports_its_own_paths() {
    let spec = workspace_file("examples/specs/no_time_wait.fsm");
    let (out, stdout, stderr) = handshake(&[os("--spec"), spec.as_os_str()]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("client: steps 1-6 followed, the whole path")
            // Should the server's ACK of our FIN come with its own FIN,
            // the client goes FIN_WAIT_1 -> CLOSED (FIN+ACK), off the path.
            || stdout.contains(
                "client: steps 1-4 of 6 followed, step 5 not taken: went FIN_WAIT_1 -> CLOSED"
            ),
        "{stdout}"
    );
    assert!(
        stdout.contains("server: steps 1-7 followed, the whole path"),
        "{stdout}"
    );
    assert!(!stdout.contains("TIME_WAIT ->"), "{stdout}");
    assert!(stdout.contains("ok: the data came back intact"), "{stdout}");
}

/// A variant in which a connection opened actively leaves FIN_WAIT_2
/// straight to CLOSED: the client leaves tcp.fsm's client path at step 6,
/// which the run reports, and still passes (every byte came back, both
/// ends closed).
#[test]
fn a_run_that_leaves_the_spec_s_path_says_where_and_passes() {
    let dir = scratch("handshake-leaves");
    let tcp = std::fs::read_to_string(workspace_file("tcp.fsm")).unwrap();
    let from = "FIN_WAIT_2  -> TIME_WAIT  on rcv_fin              /";
    assert!(tcp.contains(from), "tcp.fsm changed; update this test");
    let variant = tcp.replace(from, "FIN_WAIT_2  -> TIME_WAIT  on rcv_fin [passive]     /")
        + "FIN_WAIT_2  -> CLOSED      on rcv_fin [!passive] / send_ack, delete_tcb\n";
    let spec = dir.join("active_skips_time_wait.fsm");
    std::fs::write(&spec, variant).unwrap();

    let (out, stdout, stderr) = handshake(&[os("--spec"), spec.as_os_str()]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "client: steps 1-5 of 7 followed, step 6 not taken: went FIN_WAIT_2 -> CLOSED"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("server: steps 1-7 followed, the whole path"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_spec_with_a_word_outside_the_vocabulary_is_refused_with_its_place() {
    let dir = scratch("handshake-word");
    let tcp = std::fs::read_to_string(workspace_file("tcp.fsm")).unwrap();
    let variant = tcp.replace("linger_timeout", "keepalive_timeout");
    let line = variant
        .lines()
        .position(|l| l.starts_with("event keepalive_timeout"))
        .expect("tcp.fsm declares linger_timeout")
        + 1;
    let spec = dir.join("keepalive.fsm");
    std::fs::write(&spec, variant).unwrap();

    let (out, stdout, stderr) = handshake(&[os("--spec"), spec.as_os_str()]);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("{}:{line}:7", spec.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("event `keepalive_timeout` is not in the vocabulary `fsm_runtime::vocab`"),
        "{stderr}"
    );
    assert!(stderr.contains("1 error found"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stdout.is_empty(), "nothing ran: {stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_json_has_a_line_per_event_each_connection_a_chain_of_states() {
    let dir = scratch("handshake-json");
    let file = dir.join("steps.jsonl");
    let (out, stdout, stderr) = handshake(&[os("--trace-json"), file.as_os_str()]);
    assert!(out.status.success(), "{stdout}{stderr}");
    let lines = read_trace_json(&file);
    assert!(
        stdout.contains(&format!("{} events written to", lines.len())),
        "{stdout}"
    );

    let first = lines[0]["event"].as_str().unwrap();
    assert!(
        ["passive_open", "active_open"].contains(&first),
        "the first event is a call, not {first}"
    );
    // Both sides, and the client's path steps in order.
    for side in ["client", "server"] {
        assert!(lines.iter().any(|l| l["side"] == side), "no {side} line");
    }
    let client_steps: Vec<u64> = lines
        .iter()
        .filter(|l| l["side"] == "client")
        .flat_map(|l| l["steps"].as_array().unwrap().clone())
        .filter(|s| s["path"] == "client")
        .map(|s| s["step"].as_u64().unwrap())
        .collect();
    assert_eq!(client_steps, [2, 3, 4, 5, 6, 7]);
    let open = lines.iter().find(|l| l["event"] == "active_open").unwrap();
    assert_eq!(open["from"], "CLOSED");
    assert_eq!(open["to"], "SYN_SENT");
    assert_eq!(
        open["actions"],
        serde_json::json!(["create_tcb", "send_syn"])
    );
    assert_eq!(open["guards"]["peer_known"], true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_streams_the_same_events_as_trace_json_and_the_segments() {
    use std::io::{BufRead, BufReader};
    let watcher = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = watcher.local_addr().unwrap().to_string();
    let reading = std::thread::spawn(move || {
        let mut lines: Vec<serde_json::Value> = Vec::new();
        for _ in 0..2 {
            let (s, _) = watcher.accept().unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            for l in BufReader::new(s).lines().map_while(Result::ok) {
                lines.push(serde_json::from_str(&l).unwrap());
            }
        }
        lines
    });
    let dir = scratch("handshake-watch");
    let file = dir.join("steps.jsonl");
    let (out, stdout, stderr) =
        handshake(&[os("--trace-json"), file.as_os_str(), os("--watch"), os(&at)]);
    assert!(out.status.success(), "{stdout}{stderr}");
    let watched = reading.join().unwrap();
    // The file's events, and the same number streamed (the order of the
    // two sides may differ).
    let written = read_trace_json(&file);
    let events = |lines: &[serde_json::Value]| {
        let mut e: Vec<String> = lines
            .iter()
            .filter(|l| l.get("event").is_some())
            .map(|l| format!("{} {} {} {}", l["side"], l["event"], l["from"], l["to"]))
            .collect();
        e.sort();
        e
    };
    // The file holds the connection and congestion machines' lines; the
    // stream the recovery machine's too.
    let without_recovery: Vec<serde_json::Value> = watched
        .iter()
        .filter(|l| l["spec"] != "../recovery.fsm")
        .cloned()
        .collect();
    assert_eq!(events(&without_recovery), events(&written));
    for (side, dir, flags) in [
        ("client", "out", &["SYN"][..]),
        ("server", "in", &["SYN"]),
        ("server", "out", &["SYN", "ACK"]),
        ("client", "in", &["FIN", "ACK"]),
    ] {
        assert!(
            watched.iter().any(|l| l["side"] == side
                && l["segment"]["dir"] == dir
                && l["segment"]["flags"] == serde_json::json!(flags)),
            "no {flags:?} {dir} on the {side}'s stream"
        );
    }
}

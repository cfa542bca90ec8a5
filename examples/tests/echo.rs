//! The echo example as users run it: one server, several clients at once,
//! the server capturing to pcap; tshark then decodes every packet as TCP
//! with good checksums (without tshark that check is skipped, except in CI,
//! `CI=true`, where it fails).
//!
//! `cargo test` builds the examples next to the test binaries, in
//! `target/<profile>/examples/`, which is where this finds them.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// A free loopback UDP port (bound and released; good enough for a test).
fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// Kills the server if the test fails before it ends by itself.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_echo_server_serves_concurrent_clients_and_its_capture_decodes() {
    let echo = example("echo");
    assert!(echo.exists(), "{} not built", echo.display());
    let dir = std::env::temp_dir().join(format!("fsm-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    // The server stops by itself after `--clients` connections.
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = server.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < end, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    let mut log = String::new();
    if let Some(mut out) = server.0.stdout.take() {
        use std::io::Read as _;
        out.read_to_string(&mut log).unwrap();
    }
    assert!(log.contains("LAST_ACK -> CLOSED"), "{log}");
    assert_eq!(log.matches("bytes echoed to").count(), clients, "{log}");

    match fsm_runtime::pcap::check_with_tshark(&pcap) {
        Ok(None) => fsm_runtime::testing::skip("the capture check: tshark not found"),
        Ok(Some(n)) => {
            assert!(n > 100, "{n} packets");
            println!("{n} packets in the capture, all TCP with good checksums");
        }
        Err(e) => panic!("{e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

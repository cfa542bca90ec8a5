//! What the tests of the example programs share: finding the built
//! examples, free ports, and reaping a server a failed test leaves
//! behind.
//!
//! `cargo test` builds the examples next to the test binaries, in
//! `target/<profile>/examples/`, which is where [`example`] finds them
//! (Cargo sets `CARGO_BIN_EXE_<name>` for binaries only, not examples).

#![allow(dead_code)] // each test file uses what it needs

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Child;

/// The built example `name`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// A file of the workspace, by its path from the workspace's root.
pub fn workspace_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A fresh directory for one test's files, under the system's temporary
/// directory.
pub fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fsm-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A free loopback UDP port (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// Kills the server if the test fails before it ends by itself.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a `--trace-json` file and checks every line against
/// docs/trace-json.md: each is a JSON object with the documented fields
/// and types, a refused event (`transition` null) stays where it was, and
/// along each connection (side, local, remote) each line starts in the
/// state the previous one ended in. Answers the lines.
pub fn read_trace_json(path: &Path) -> Vec<serde_json::Value> {
    use serde_json::Value;
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect();
    assert!(!lines.is_empty(), "{} is empty", path.display());
    // The connection machine's events, and the congestion machine's
    // (lines whose `spec` is a congestion spec).
    let events: Vec<&str> = fsm_runtime::vocab::Event::ALL
        .iter()
        .map(|e| e.name())
        .chain(fsm_runtime::cc::Event::ALL.iter().map(|e| e.name()))
        .collect();
    let mut last_to: std::collections::HashMap<String, String> = Default::default();
    for (i, v) in lines.iter().enumerate() {
        let at = format!("line {}: {v}", i + 1);
        let str_field = |name: &str| {
            v[name]
                .as_str()
                .unwrap_or_else(|| panic!("{at}: `{name}` is not a string"))
        };
        assert!(v["time"].as_f64().is_some_and(|t| t >= 0.0), "{at}: `time`");
        assert!(str_field("spec").ends_with(".fsm"), "{at}: `spec`");
        let side = str_field("side");
        let local = v["connection"]["local"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: `connection.local`"));
        assert!(local.parse::<std::net::SocketAddrV4>().is_ok(), "{at}");
        let remote = &v["connection"]["remote"];
        assert!(
            remote.is_null()
                || remote
                    .as_str()
                    .is_some_and(|r| r.parse::<std::net::SocketAddrV4>().is_ok()),
            "{at}: `connection.remote`"
        );
        assert!(events.contains(&str_field("event")), "{at}: `event`");
        let guards = v["guards"]
            .as_object()
            .unwrap_or_else(|| panic!("{at}: `guards`"));
        assert!(guards.values().all(Value::is_boolean), "{at}: `guards`");
        let (from, to) = (str_field("from"), str_field("to"));
        match &v["transition"] {
            Value::Null => {
                assert_eq!(from, to, "{at}: a refused event changes no state");
                assert_eq!(v["actions"], serde_json::json!([]), "{at}");
            }
            t => assert!(
                t["index"].is_u64() && t["line"].as_u64().is_some_and(|l| l > 0),
                "{at}: `transition`"
            ),
        }
        let actions = v["actions"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: `actions`"));
        assert!(actions.iter().all(Value::is_string), "{at}: `actions`");
        let steps = v["steps"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: `steps`"));
        assert!(
            steps
                .iter()
                .all(|s| s["path"].is_string() && s["step"].as_u64().is_some_and(|n| n > 0)),
            "{at}: `steps`"
        );
        let connection = format!("{} {side} {local} {remote}", str_field("spec"));
        if let Some(prev) = last_to.insert(connection, to.to_owned()) {
            assert_eq!(
                prev, from,
                "{at}: the previous line of this connection ended in {prev}"
            );
        }
    }
    lines
}

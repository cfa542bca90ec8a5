// Shared by codegen/tests/serve.rs and serve_browser.rs: `fsm serve` on a
// temporary copy of a spec, a bounded HTTP client, a short handshake's
// watch lines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The 1-based line of `repo/spec_file` that starts with `prefix`.
pub fn line_of(spec_file: &str, prefix: &str) -> usize {
    let text = std::fs::read_to_string(repo().join(spec_file)).unwrap();
    text.lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line of {spec_file} starts with {prefix:?}"))
        + 1
}

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("fsm-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `fsm serve` running on a copy of a spec; killed on drop.
pub struct Served {
    pub child: Child,
    pub page: SocketAddr,
    pub watch: SocketAddr,
    pub spec: PathBuf,
    pub dir: TempDir,
}

impl Served {
    /// Serves a copy of `spec_file` (a path in the repository) with `args`.
    pub fn start(spec_file: &str, args: &[&str]) -> Served {
        let dir = TempDir::new("serve");
        let spec = dir.0.join(Path::new(spec_file).file_name().unwrap());
        std::fs::copy(repo().join(spec_file), &spec).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_fsm"))
            .arg("serve")
            .arg(&spec)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fsm serve starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = |line: &str| -> SocketAddr {
            let s = line
                .split("http://")
                .nth(1)
                .unwrap_or_else(|| line.split(" at ").nth(1).unwrap());
            let s = s
                .trim_end_matches('/')
                .split(' ')
                .next()
                .unwrap()
                .trim_end_matches('/');
            s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        let page_line = rx
            .recv_timeout(TIMEOUT)
            .expect("fsm serve prints the page's address");
        let watch_line = rx
            .recv_timeout(TIMEOUT)
            .expect("fsm serve prints the watch address");
        assert!(page_line.contains("page"), "{page_line}");
        assert!(watch_line.contains("watch"), "{watch_line}");
        Served {
            child,
            page: addr(&page_line),
            watch: addr(&watch_line),
            spec,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.page)
    }

    /// Saves `text` as an editor does: another file renamed over the spec.
    pub fn save(&self, text: &str) {
        let tmp = self.dir.0.join(".tcp.fsm.swp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.spec).unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request, `Connection: close`; (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub fn json(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, body) = http(addr, method, path, body);
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, v)
}

/// Polls `f` every 20 ms until it gives `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const CLIENT: &str = "127.0.0.1:40001";
const SERVER: &str = "127.0.0.1:40002";

/// Who sends a line: side, local address, remote address.
type Who = (&'static str, &'static str, &'static str);

const C: Who = ("client", CLIENT, SERVER);
const S: Who = ("server", SERVER, CLIENT);

/// An event line: `what` is (event, from, to), `pair` (index, line).
fn event(who: Who, what: (&str, &str, &str), pair: (u32, u32), steps: &str) -> String {
    let (side, local, remote) = who;
    let (event, from, to) = what;
    let (index, line) = pair;
    format!(
        r#"{{"time":0.001,"spec":"../tcp.fsm","side":"{side}","connection":{{"local":"{local}","remote":"{remote}"}},"event":"{event}","guards":{{"passive":false,"fin_acked":false,"peer_known":true}},"from":"{from}","to":"{to}","transition":{{"index":{index},"line":{line}}},"actions":[],"steps":[{steps}]}}"#
    )
}

/// A segment line: `dir`, `flags` (JSON strings), seq, ack.
fn segment(who: Who, dir: &str, flags: &str, seq: u32, ack: u32) -> String {
    let (side, local, remote) = who;
    format!(
        r#"{{"time":0.001,"spec":"../tcp.fsm","side":"{side}","connection":{{"local":"{local}","remote":"{remote}"}},"segment":{{"dir":"{dir}","flags":[{flags}],"seq":{seq},"ack":{ack},"len":0}}}}"#
    )
}

/// A short handshake as two endpoints would stream it: the server's
/// accepted connection from LISTEN, the client's from CLOSED, and the
/// segments each sent and received; the pair indices are tcp.fsm's.
pub fn handshake_lines() -> Vec<String> {
    vec![
        event(
            C,
            ("active_open", "CLOSED", "SYN_SENT"),
            (1, 92),
            r#"{"path":"client","step":2}"#,
        ),
        segment(C, "out", r#""SYN""#, 100, 0),
        segment(S, "in", r#""SYN""#, 100, 0),
        event(
            S,
            ("rcv_syn", "LISTEN", "SYN_RCVD"),
            (3, 95),
            r#"{"path":"server","step":3}"#,
        ),
        segment(S, "out", r#""SYN","ACK""#, 500, 101),
        segment(C, "in", r#""SYN","ACK""#, 500, 101),
        event(
            C,
            ("rcv_syn_ack", "SYN_SENT", "ESTABLISHED"),
            (7, 100),
            r#"{"path":"client","step":3}"#,
        ),
        segment(C, "out", r#""ACK""#, 101, 501),
        segment(S, "in", r#""ACK""#, 101, 501),
        event(
            S,
            ("rcv_ack", "SYN_RCVD", "ESTABLISHED"),
            (11, 105),
            r#"{"path":"server","step":4}"#,
        ),
    ]
}
/// Writes `lines` to the watch port, one connection, then closes it.
pub fn stream(watch: SocketAddr, lines: &[String]) {
    let mut s = TcpStream::connect_timeout(&watch, TIMEOUT).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    for l in lines {
        s.write_all(l.as_bytes()).unwrap();
        s.write_all(b"\n").unwrap();
    }
    s.flush().unwrap();
}

/// For a test that cannot run here because `why`: prints `skipped: WHY`
/// and the caller returns; with CI=true, panics instead.
#[track_caller]
pub fn skip(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{why}: with CI=true no test may be skipped, so CI must install what is missing \
             (`.ci/run` installs chromium and chromium-driver)"
        );
    }
    println!("skipped: {why}");
}

//! `fsm serve` and `fsm play` without a browser: the HTTP interface, the
//! watch port, the folder watcher, and the exported page and animation.
//! (codegen/tests/serve_browser.rs drives the page in chromium.)

mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serve_support::*;

#[test]
fn step_answers_with_the_spec_s_transition_and_refuses_what_it_lacks() {
    let s = Served::start("tcp.fsm", &[]);
    let body = json!({"state": "CLOSED", "event": "active_open", "guards": {}}).to_string();
    let (status, a) = json(s.page, "POST", "/api/step", &body);
    assert_eq!(status, 200);
    assert_eq!(a["fired"], true);
    assert_eq!(a["to"], "SYN_SENT");
    assert_eq!(a["edge"], "edge-1-CLOSED");
    assert_eq!(
        a["transition"]["index"], 1,
        "the pair's index, as in trace lines"
    );
    assert_eq!(a["transition"]["line"], line_of_tcp("CLOSED   -> SYN_SENT"));
    assert_eq!(a["actions"], json!(["create_tcb", "send_syn"]));
    assert_eq!(a["steps"], json!([{"path": "client", "step": 2}]));

    // The guards decide.
    for (fin_acked, to) in [(false, "CLOSING"), (true, "TIME_WAIT")] {
        let body =
            json!({"state": "FIN_WAIT_1", "event": "rcv_fin", "guards": {"fin_acked": fin_acked}});
        let (_, a) = json(s.page, "POST", "/api/step", &body.to_string());
        assert_eq!(a["to"], to);
    }
    // Refused: nothing happens.
    let body = json!({"state": "CLOSED", "event": "rcv_fin"}).to_string();
    let (status, a) = json(s.page, "POST", "/api/step", &body);
    assert_eq!(
        (status, &a["fired"], &a["to"]),
        (200, &json!(false), &json!("CLOSED"))
    );

    // Bad requests are clean errors, and the server stays up.
    for bad in [
        "",
        "not json",
        "[]",
        r#"{"state":"NOPE","event":"close"}"#,
        r#"{"state":"CLOSED","event":"close","guards":{"x":true}}"#,
    ] {
        let (status, a) = json(s.page, "POST", "/api/step", bad);
        assert_eq!(status, 400, "{bad}: {a}");
        assert!(a["error"].is_string());
    }
    let (status, _) = http(s.page, "GET", "/nothing-here", "");
    assert_eq!(status, 404);
    let mut raw = TcpStream::connect(s.page).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    raw.write_all(b"\x00\x01 garbage \xff\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);
    let (status, spec) = json(s.page, "GET", "/api/spec", "");
    assert_eq!(status, 200);
    assert_eq!(spec["ok"], true);
    assert!(
        spec["svg"]
            .as_str()
            .unwrap()
            .contains("id=\"state-ESTABLISHED\"")
    );
    let (status, page) = http(s.page, "GET", "/", "");
    assert_eq!(status, 200);
    assert!(page.contains("<svg") || page.contains("fsm-data"));
    assert!(
        !page.contains("src=\"http"),
        "the page loads nothing from the network"
    );
}

#[test]
fn the_tour_comes_as_fsm_tour_json_prints_it() {
    let s = Served::start("tcp.fsm", &["--history", "passive:LISTEN/SYN_SENT"]);
    let (status, t) = json(s.page, "GET", "/api/tour", "");
    assert_eq!(status, 200);
    let cli = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .args(["tour", "--json", "--history", "passive:LISTEN/SYN_SENT"])
        .arg(&s.spec)
        .output()
        .unwrap();
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(t, cli);
    assert_eq!(t["pairs_taken"], t["pairs"]);
}

#[test]
fn the_watch_port_takes_streams_and_counts_bad_lines() {
    let s = Served::start("tcp.fsm", &[]);
    let lines = handshake_lines();
    let (client, server): (Vec<String>, Vec<String>) = lines
        .iter()
        .cloned()
        .partition(|l| l.contains("\"side\":\"client\""));
    // Two endpoints at once, one of them reconnecting; a malformed line, a
    // line too long, and another machine's line among them.
    let watch = s.watch;
    let a = std::thread::spawn(move || {
        stream(watch, &client[..2]);
        stream(watch, &client[2..]);
    });
    let mut bad = server.clone();
    bad.insert(1, "{this is not json".into());
    bad.insert(2, r#"{"time":1,"spec":"../congestion.fsm","side":"server","connection":{"local":"a","remote":"b"},"event":"new_ack","guards":{},"from":"SLOW_START","to":"SLOW_START","transition":{"index":0,"line":52},"actions":[],"steps":[]}"#.into());
    bad.insert(3, "x".repeat(2 << 20));
    stream(watch, &bad);
    a.join().unwrap();
    let stats = wait_for(TIMEOUT, || {
        let (_, st) = json(s.page, "GET", "/api/stats", "");
        (st["lines"] == 13).then_some(st)
    })
    .expect("every line counted");
    assert_eq!(stats["events"], 4);
    assert_eq!(stats["segments"], 6);
    assert_eq!(stats["other"], 1);
    assert_eq!(stats["malformed"], 2);

    // POST /api/watch takes the same lines.
    let (status, st) = json(
        s.page,
        "POST",
        "/api/watch",
        &format!("{}\nnope\n", lines[0]),
    );
    assert_eq!(status, 200);
    assert_eq!(st["lines"], 15);
    assert_eq!(st["malformed"], 3);

    // A page that connects now hears every line so far: the server's last
    // event among them.
    let mut es = TcpStream::connect(s.page).unwrap();
    es.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(es, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = String::new();
    let start = Instant::now();
    let mut buf = [0u8; 8192];
    while !got.contains("\"event\":\"rcv_ack\"") && start.elapsed() < TIMEOUT {
        if let Ok(n) = es.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(got.contains("text/event-stream"), "{got}");
    assert!(got.contains("\"edge\":\"edge-11-SYN_RCVD\""), "{got}");
}

#[test]
fn a_save_redraws_and_an_error_keeps_the_last_good_figure() {
    let s = Served::start("tcp.fsm", &[]);
    let (_, first) = json(s.page, "GET", "/api/spec", "");
    let v0 = first["version"].as_u64().unwrap();

    // Listen for the page's notice.
    let mut es = TcpStream::connect(s.page).unwrap();
    es.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    write!(es, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 65536];
    let mut got = String::new();
    let start = Instant::now();
    while !got.contains("event: spec") && start.elapsed() < TIMEOUT {
        if let Ok(n) = es.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    got.clear();

    let text = std::fs::read_to_string(&s.spec).unwrap();
    let edited = text
        .replace("state LISTEN ", "state LISTENING ")
        .replace("LISTEN ", "LISTENING ")
        .replace("LISTEN,", "LISTENING,")
        .replace("LISTEN\n", "LISTENING\n");
    let saved = Instant::now();
    s.save(&edited);
    while !got.contains(&format!("\"version\":{}", v0 + 1)) && saved.elapsed() < TIMEOUT {
        if let Ok(n) = es.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let latency = saved.elapsed();
    println!("the page heard of the save after {latency:?}");
    assert!(latency < Duration::from_secs(3), "{latency:?}");
    let (_, spec) = json(s.page, "GET", "/api/spec", "");
    assert_eq!(spec["ok"], true, "{}", spec["diagnostics"]);
    assert!(spec["svg"].as_str().unwrap().contains("state-LISTENING"));

    // An error: the diagnostic with line:col, the figure kept.
    let broken = edited.replacen("CLOSED   -> SYN_SENT", "CLOSED   -> SYN_SNT", 1);
    assert_ne!(broken, edited);
    s.save(&broken);
    let spec = wait_for(TIMEOUT, || {
        let (_, spec) = json(s.page, "GET", "/api/spec", "");
        (spec["ok"] == false).then_some(spec)
    })
    .expect("the error is seen");
    assert!(
        spec["svg"].as_str().unwrap().contains("state-LISTENING"),
        "the last good figure"
    );
    let d = &spec["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert!(d["message"].as_str().unwrap().contains("SYN_SNT"), "{d}");
    assert_eq!(d["line"], line_of_tcp("CLOSED   -> SYN_SENT"));
    assert_eq!(d["col"], 13);
    assert!(
        d["marks"]
            .as_array()
            .unwrap()
            .contains(&json!("edge-1-CLOSED")),
        "{d}"
    );

    // Not UTF-8, then empty: clean messages too.
    std::fs::write(&s.spec, b"machine \xff").unwrap();
    let spec = wait_for(TIMEOUT, || {
        let (_, spec) = json(s.page, "GET", "/api/spec", "");
        spec["diagnostics"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("UTF-8"))
            .then_some(spec)
    });
    assert!(spec.is_some());
}

#[test]
fn reading_the_spec_is_not_a_change_to_it() {
    // Reading the spec is an access the folder's watcher hears: the server
    // must not take it for a save (and read it again, and again).
    let s = Served::start("tcp.fsm", &[]);
    let version = || json(s.page, "GET", "/api/spec", "").1["version"].clone();
    let first = version();
    std::thread::sleep(Duration::from_millis(500));
    let _ = std::fs::read_to_string(&s.spec).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(version(), first, "nothing changed, nothing read again");
    // The same bytes written again: nothing to draw again either.
    s.save(&std::fs::read_to_string(&s.spec).unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(version(), first);
}

#[test]
fn a_trace_is_annotated_for_playback() {
    let dir = TempDir::new("trace");
    let trace = dir.0.join("h.jsonl");
    std::fs::write(&trace, handshake_lines().join("\n") + "\n{bad\n").unwrap();
    let s = Served::start("tcp.fsm", &["--trace", trace.to_str().unwrap()]);
    let (status, t) = json(s.page, "GET", "/api/trace", "");
    assert_eq!(status, 200);
    assert_eq!(t["lines"].as_array().unwrap().len(), 10);
    assert_eq!(t["stats"]["malformed"], 1);
    assert_eq!(t["lines"][0]["edge"], "edge-1-CLOSED");
    let (status, a) = json(s.page, "POST", "/api/annotate", &handshake_lines()[3]);
    assert_eq!(status, 200);
    assert_eq!(a["lines"][0]["edge"], "edge-3-LISTEN");
}

#[test]
fn play_writes_a_self_contained_page_and_an_animated_svg() {
    let dir = TempDir::new("play");
    let trace = dir.0.join("h.jsonl");
    std::fs::write(&trace, handshake_lines().join("\n")).unwrap();
    let (html, svg) = (dir.0.join("h.html"), dir.0.join("h.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .arg("play")
        .arg(repo().join("tcp.fsm"))
        .arg(&trace)
        .arg("--html")
        .arg(&html)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_page(&std::fs::read_to_string(&html).unwrap());
    check_animation(&std::fs::read_to_string(&svg).unwrap(), 4);

    // One side only: the server's markers, none of the client's.
    let out = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .arg("play")
        .arg(repo().join("tcp.fsm"))
        .arg(&trace)
        .args(["--side", "server", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one = std::fs::read_to_string(&svg).unwrap();
    assert!(one.contains("data-key=\"server "));
    assert!(!one.contains("data-key=\"client "));

    // No event of the spec: a clean error.
    std::fs::write(&trace, "{}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fsm"))
        .arg("play")
        .arg(repo().join("tcp.fsm"))
        .arg(&trace)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no event"));
}

#[test]
fn the_handshake_s_page_and_animation_in_docs_play() {
    let page = std::fs::read_to_string(repo().join("docs/handshake.html")).unwrap();
    check_page(&page);
    let svg = std::fs::read_to_string(repo().join("docs/handshake-play.svg")).unwrap();
    check_animation(&svg, 8);
}

fn check_page(page: &str) {
    assert!(page.contains("\"mode\":\"play\""));
    assert!(
        page.contains("id=\\\"state-ESTABLISHED\\\""),
        "the figure inline"
    );
    for remote in ["src=\"http", "href=\"http", "@import", "<link"] {
        assert!(!page.contains(remote), "nothing from the network: {remote}");
    }
}

/// Valid XML, with `<set>` animations on a clock, at least `events` steps.
fn check_animation(svg: &str, events: usize) {
    let doc = roxmltree::Document::parse(svg).expect("the animated SVG is XML");
    let sets = doc.descendants().filter(|n| n.has_tag_name("set")).count();
    assert!(sets >= 2 * events, "{sets} <set> for {events} events");
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("animate") && n.attribute("id") == Some("clock"))
    );
    let markers: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("marker"))
        .collect();
    assert!(
        markers
            .iter()
            .any(|m| m.attribute("data-state") == Some("ESTABLISHED"))
    );
    // Every marker's state is a state of the figure.
    for m in markers {
        let id = format!("state-{}", m.attribute("data-state").unwrap());
        assert!(
            doc.descendants()
                .any(|n| n.attribute("id") == Some(id.as_str())),
            "{id}"
        );
    }
}

/// The line of tcp.fsm that starts with `start`, counted from 1.
fn line_of_tcp(start: &str) -> usize {
    let tcp = include_str!("../../tcp.fsm");
    1 + tcp
        .lines()
        .position(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line of tcp.fsm starts with {start:?}"))
}

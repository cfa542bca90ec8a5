//! `fsm-lab replay` on captures of our runtime: an exchange replayed from
//! either side (each from its own capture) agrees with tcp.fsm and goes through the states the
//! runtime itself reported; so does one with lost and duplicated
//! datagrams; a capture made under a variant spec is flagged at the frame
//! where it leaves tcp.fsm, and agrees with the variant; captures written
//! segment by segment are held to the rules one at a time; bad input is an
//! error, never a panic.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fsm_lab::replay::{Capture, Direction, Outcome, Report, Side, replay};
use fsm_runtime::fault::FaultConfig;
use fsm_runtime::loaded::Loaded;
use fsm_runtime::pcap::PcapWriter;
use fsm_runtime::trace::TraceEntry;
use fsm_runtime::vocab::Machine;
use fsm_runtime::wire::{Flags, SeqNum, TcpRepr};
use fsm_runtime::{Config, Endpoint, Options};

type Trace = Arc<Mutex<Vec<TraceEntry>>>;

fn workspace(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn spec(path: &str) -> Loaded {
    Loaded::load(workspace(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fsm-replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(50));
    c.user_timeout = Duration::from_secs(5);
    c
}

/// An endpoint on 127.0.0.1 under `machine`, capturing to `pcap` and
/// recording its transitions.
fn endpoint<M: Machine>(machine: M, pcap: &Path, faults: FaultConfig) -> (Endpoint<M>, Trace) {
    let trace = Trace::default();
    let mut o = Options::with_config(config());
    o.pcap = Some(pcap.to_owned());
    o.faults = faults;
    let t = trace.clone();
    o.on_transition = Some(Box::new(move |e| {
        t.lock().unwrap_or_else(|e| e.into_inner()).push(e.clone())
    }));
    let ep =
        Endpoint::bind_spec(machine, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), o).expect("bind");
    (ep, trace)
}

fn addr<M: Machine>(ep: &Endpoint<M>) -> SocketAddrV4 {
    match ep.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("{a}"),
    }
}

/// The states the runtime reported for its connection with `peer`
/// (its listener's first), as the replay lists them.
fn runtime_states(trace: &Trace, peer: SocketAddrV4) -> Vec<String> {
    let trace = trace.lock().unwrap();
    let mut states: Vec<String> = Vec::new();
    // The listener's opening leads into the connection; its closing, when
    // the listener goes (whether before the trace is read or after), is
    // not the connection's.
    let mut connected = false;
    for e in trace.iter().filter(|e| {
        connected |= e.remote == Some(peer);
        e.remote == Some(peer) || (e.remote.is_none() && !connected)
    }) {
        if states.is_empty() {
            states.push(e.transition.from.to_owned());
        }
        if states.last().map(String::as_str) != Some(e.transition.to) {
            states.push(e.transition.to.to_owned());
        }
    }
    states
}

/// The one connection of a report, which must agree.
fn agreeing(report: &Report) -> Vec<String> {
    assert!(report.agrees(), "{report}");
    assert_eq!(report.connections.len(), 1, "{report}");
    let c = &report.connections[0];
    assert_eq!(c.outcome, Outcome::Agrees, "{report}");
    c.states.iter().map(|s| s.to_string()).collect()
}

/// The replay's states are the runtime's, but for a last transition the
/// wire cannot show (a timer with nothing to send: TIME_WAIT's end).
fn assert_same_states(replayed: &[String], runtime: &[String], report: &Report) {
    let silent_end = runtime.len() == replayed.len() + 1
        && runtime.starts_with(replayed)
        && replayed.last().map(String::as_str) == Some("TIME_WAIT");
    assert!(
        replayed == runtime || silent_end,
        "replayed {replayed:?}, the runtime went through {runtime:?}\n{report}"
    );
}

/// A client sends `bytes` and closes; the server echoes them and closes.
/// Both capture; returns (server, client) addresses, captures, traces.
fn echo(name: &str, bytes: usize, faults: impl Fn(u64) -> FaultConfig) -> Echo {
    let d = dir(name);
    let (server_pcap, client_pcap) = (d.join("server.pcap"), d.join("client.pcap"));
    let tcp = spec("tcp.fsm");
    let (server, server_trace) = endpoint(tcp.clone(), &server_pcap, faults(1));
    let (client, client_trace) = endpoint(tcp, &client_pcap, faults(2));
    let (s_addr, c_addr) = (addr(&server), addr(&client));
    let listener = server.listen(s_addr.port(), 4).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept_timeout(Duration::from_secs(10)).unwrap().0;
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        s.close(Duration::from_secs(10)).unwrap();
    });
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    let mut c = client.connect(s_addr, Duration::from_secs(5)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    c.close(Duration::from_secs(10)).unwrap();
    t.join().unwrap();
    drop(server); // flushes the captures
    drop(client);
    Echo {
        dir: d,
        server: s_addr,
        client: c_addr,
        server_pcap,
        client_pcap,
        server_trace,
        client_trace,
    }
}

struct Echo {
    dir: PathBuf,
    server: SocketAddrV4,
    client: SocketAddrV4,
    server_pcap: PathBuf,
    client_pcap: PathBuf,
    server_trace: Trace,
    client_trace: Trace,
}

fn replay_file(spec: &Loaded, pcap: &Path, side: Option<Side>) -> Report {
    let capture = Capture::read_file(pcap).unwrap_or_else(|e| panic!("{e}"));
    replay(spec, &capture, side).unwrap_or_else(|e| panic!("{e}"))
}

/// Replays each side's own capture (what it sent and what reached it)
/// from that side: it agrees with `spec` and lists the states the runtime
/// reported. Returns the states of the server, then the client.
fn both_sides(run: &Echo, spec: &Loaded) -> Vec<Vec<String>> {
    [
        (&run.server_pcap, run.server, run.client, &run.server_trace),
        (&run.client_pcap, run.client, run.server, &run.client_trace),
    ]
    .into_iter()
    .map(|(pcap, side, peer, trace)| {
        let report = replay_file(spec, pcap, Some(side.into()));
        let states = agreeing(&report);
        assert_same_states(&states, &runtime_states(trace, peer), &report);
        states
    })
    .collect()
}

#[test]
fn an_exchange_agrees_from_either_side_with_the_runtimes_states() {
    let run = echo("clean", 30_000, |_| FaultConfig::default());
    let tcp = spec("tcp.fsm");
    for states in both_sides(&run, &tcp) {
        assert!(states.len() >= 5, "{states:?}");
    }
    // By default the side is the first SYN's receiver: the server.
    let report = replay_file(&tcp, &run.server_pcap, None);
    assert_eq!(report.side, Side::from(run.server));
    agreeing(&report);
    // The command line says the same, and exits 0.
    let out = Command::new(env!("CARGO_BIN_EXE_fsm-lab"))
        .arg("replay")
        .arg(workspace("tcp.fsm"))
        .arg(&run.client_pcap)
        .args(["--side", &run.client.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["agrees"], true);
    let listed: Vec<String> = json["connections"][0]["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_same_states(
        &listed,
        &runtime_states(&run.client_trace, run.server),
        &replay_file(&tcp, &run.client_pcap, Some(run.client.into())),
    );
    let _ = std::fs::remove_dir_all(&run.dir);
}

#[test]
fn an_exchange_with_loss_and_duplicates_agrees() {
    let run = echo("faults", 60_000, |seed| FaultConfig {
        loss: 0.05,
        duplicate: 0.05,
        seed,
        ..FaultConfig::default()
    });
    both_sides(&run, &spec("tcp.fsm"));
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// (frame number from 1, source, flags RST) of every TCP segment in a
/// capture, read with pcap-file and the runtime's wire parser.
fn segments(pcap: &Path) -> Vec<(u64, SocketAddrV4, bool)> {
    let file = std::fs::File::open(pcap).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(file).unwrap();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        n += 1;
        let p = p.unwrap();
        if let Ok((ip, tcp)) = fsm_runtime::wire::parse(&p.data) {
            out.push((
                n,
                SocketAddrV4::new(ip.src_addr, tcp.src_port),
                tcp.flags.rst(),
            ));
        }
    }
    out
}

/// The line of tcp.fsm that takes ESTABLISHED to CLOSED on an RST.
fn reset_line() -> u32 {
    let text = std::fs::read_to_string(workspace("tcp.fsm")).unwrap();
    let i = text
        .lines()
        .position(|l| l.starts_with("ESTABLISHED,") && l.contains("-> CLOSED on rcv_rst"))
        .expect("the line in tcp.fsm");
    i as u32 + 1
}

#[test]
fn a_capture_under_a_variant_is_flagged_where_it_leaves_tcp_fsm() {
    let work = dir("variant");
    let (a_pcap, b_pcap) = (work.join("a.pcap"), work.join("b.pcap"));
    let variant = spec("examples/specs/rst_ignored_in_established.fsm");
    let tcp = spec("tcp.fsm");
    // A runs the variant, which ignores an RST while established.
    let steps = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (a, _) = {
        let mut o = Options::with_config(config());
        o.pcap = Some(a_pcap.clone());
        let s = steps.clone();
        o.on_step = Some(Box::new(move |r| s.lock().unwrap().push(r.event.name())));
        (
            Endpoint::bind_spec(
                variant.clone(),
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
                o,
            )
            .unwrap(),
            (),
        )
    };
    let (b, _) = endpoint(tcp.clone(), &b_pcap, FaultConfig::default());
    let (a_addr, b_addr) = (addr(&a), addr(&b));
    let listener = b.listen(b_addr.port(), 1).unwrap();
    let stream_a = a.connect(b_addr, Duration::from_secs(5)).unwrap();
    let (stream_b, _) = listener.accept_timeout(Duration::from_secs(5)).unwrap();
    // B resets the connection; A takes no notice of it...
    stream_b.abort().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !steps.lock().unwrap().contains(&"rcv_rst") {
        assert!(Instant::now() < deadline, "A never saw the RST");
        std::thread::sleep(Duration::from_millis(5));
    }
    // ...and sends on.
    (&stream_a).write_all(b"still here").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stream_a.abort().unwrap();
    // Every handle on an endpoint goes before it flushes its capture.
    drop((stream_a, stream_b, listener));
    drop(a);
    drop(b);

    // Where A leaves tcp.fsm: its first segment after B's RST.
    let segs = segments(&a_pcap);
    let rst = segs
        .iter()
        .find(|&&(_, src, rst)| src == b_addr && rst)
        .expect("B's RST in A's capture")
        .0;
    let expected = segs
        .iter()
        .find(|&&(n, src, _)| n > rst && src == a_addr)
        .expect("a segment from A after the RST")
        .0;

    let report = replay_file(&tcp, &a_pcap, Some(a_addr.into()));
    print!("{report}");
    assert!(!report.agrees());
    let d = report.first_disagreement().unwrap();
    assert_eq!(d.frame, expected, "{report}");
    assert_eq!(d.direction, Direction::Out);
    assert_eq!(d.state, "CLOSED", "{report}");
    let after = d.after.as_ref().unwrap();
    assert_eq!((after.event, after.frame), ("rcv_rst", rst), "{report}");
    assert_eq!(after.line, Some(reset_line()), "{report}");
    assert!(
        d.allowed
            .iter()
            .all(|l| l.starts_with(&format!("{}:", tcp.spec()))),
        "{report}"
    );
    // The command line exits 1 and names the frame.
    let out = Command::new(env!("CARGO_BIN_EXE_fsm-lab"))
        .arg("replay")
        .arg(workspace("tcp.fsm"))
        .arg(&a_pcap)
        .args(["--side", &a_addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("DISAGREES at frame {expected}")),
        "{text}"
    );

    // The same capture agrees with the variant it was made under.
    let report = replay_file(&variant, &a_pcap, Some(a_addr.into()));
    assert!(report.agrees(), "{report}");
    // And B's side, which followed tcp.fsm, agrees with it.
    let report = replay_file(&tcp, &b_pcap, Some(b_addr.into()));
    assert!(report.agrees(), "{report}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    let run = echo("bad", 2_000, |_| FaultConfig::default());
    let good = std::fs::read(&run.server_pcap).unwrap();
    let tcp = spec("tcp.fsm");
    // Every truncation, and every single corrupted byte of the headers.
    for n in 0..good.len().min(400) {
        if let Ok(c) = Capture::read(&good[..n]) {
            let _ = replay(&tcp, &c, None);
        }
    }
    for i in 0..good.len().min(200) {
        for x in [0x00, 0xff, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= x;
            if let Ok(c) = Capture::read(&bad) {
                let _ = replay(&tcp, &c, None);
            }
        }
    }
    assert!(Capture::read(b"").is_err());
    assert!(Capture::read(b"not a capture at all").is_err());
    // The command line: a clean message and exit code 2.
    let garbage = run.dir.join("garbage.pcap");
    std::fs::write(&garbage, b"\xd4\xc3\xb2\xa1 garbage").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fsm-lab"))
        .arg("replay")
        .arg(workspace("tcp.fsm"))
        .arg(&garbage)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("garbage.pcap"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&run.dir);
}

/// A capture written segment by segment: `(from the server?, seq, ack,
/// flags, payload length)`, between 10.0.0.1:80 (the server) and
/// 10.0.0.2:4000.
fn synthetic(name: &str, segments: &[(bool, u32, Option<u32>, Flags, usize)]) -> PathBuf {
    let path = dir("synthetic").join(format!("{name}.pcap"));
    let mut w = PcapWriter::create(&path).unwrap();
    let payload = vec![b'x'; 1000];
    for (i, &(from_server, seq, ack, flags, len)) in segments.iter().enumerate() {
        let (src, dst) = if from_server {
            (SERVER, CLIENT)
        } else {
            (CLIENT, SERVER)
        };
        let seg = TcpRepr {
            src_port: src.port(),
            dst_port: dst.port(),
            seq: SeqNum(seq),
            ack: ack.map(SeqNum),
            flags,
            window: 8192,
            payload: &payload[..len],
            ..TcpRepr::default()
        };
        let packet = fsm_runtime::wire::emit_vec(*src.ip(), *dst.ip(), &seg);
        w.write(Duration::from_millis(i as u64), &packet).unwrap();
    }
    w.flush().unwrap();
    path
}

const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 4000);
const S: bool = true;
const C: bool = false;

#[test]
fn written_captures_are_held_segment_by_segment() {
    let tcp = spec("tcp.fsm");
    let (syn, fin, rst, none) = (Flags::SYN, Flags::FIN, Flags::RST, Flags::empty());
    // A handshake, data each way, the client closes, then the server.
    let clean = synthetic(
        "clean",
        &[
            (C, 100, None, syn, 0),
            (S, 500, Some(101), syn, 0),
            (C, 101, Some(501), none, 0),
            (C, 101, Some(501), none, 10),
            (S, 501, Some(111), none, 20),
            (C, 111, Some(521), fin, 0),
            (S, 521, Some(112), none, 0),
            (S, 521, Some(112), fin, 0),
            (C, 112, Some(522), none, 0),
        ],
    );
    for (side, want) in [
        (
            SERVER,
            "CLOSED LISTEN SYN_RCVD ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED",
        ),
        (
            CLIENT,
            "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT",
        ),
    ] {
        let report = replay_file(&tcp, &clean, Some(side.into()));
        assert_eq!(agreeing(&report).join(" "), want, "{report}");
    }
    // The same as pcapng, as tshark writes by default.
    let pcapng = clean.with_extension("pcapng");
    match Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(&clean)
        .arg(&pcapng)
        .status()
    {
        Ok(s) if s.success() => {
            let report = replay_file(&tcp, &pcapng, Some(SERVER.into()));
            let again = replay_file(&tcp, &clean, Some(SERVER.into()));
            assert_eq!(report.connections, again.connections);
        }
        Ok(s) => panic!("editcap failed: {s}"),
        Err(_) => fsm_runtime::testing::skip("editcap (of tshark) not found"),
    }
    // The server answers a SYN with a bare ACK: tcp.fsm sends a SYN-ACK.
    let no_syn_ack = synthetic(
        "no-syn-ack",
        &[(C, 100, None, syn, 0), (S, 500, Some(101), none, 0)],
    );
    let report = replay_file(&tcp, &no_syn_ack, None);
    let d = report.first_disagreement().expect("flagged");
    assert_eq!((d.frame, d.state), (2, "SYN_RCVD"), "{report}");
    assert!(d.reason.contains("send_syn_ack"), "{report}");
    // The server does not acknowledge the client's FIN: tcp.fsm took it
    // in (ESTABLISHED -> CLOSE_WAIT / send_ack).
    let fin_ignored = synthetic(
        "fin-ignored",
        &[
            (C, 100, None, syn, 0),
            (S, 500, Some(101), syn, 0),
            (C, 101, Some(501), none, 0),
            (C, 101, Some(501), fin, 0),
            (S, 501, Some(101), none, 0),
        ],
    );
    let report = replay_file(&tcp, &fin_ignored, None);
    let d = report.first_disagreement().expect("flagged");
    assert_eq!(
        (d.frame, d.state, d.event),
        (5, "CLOSE_WAIT", Some("rcv_fin")),
        "{report}"
    );
    // A segment the server sent just before it read the FIN, recorded
    // after it (a capture on a TUN device), then the ACK of the FIN: the
    // spec's order, crossed on the wire.
    let crossed = synthetic(
        "fin-crossed",
        &[
            (C, 100, None, syn, 0),
            (S, 500, Some(101), syn, 0),
            (C, 101, Some(501), none, 0),
            (C, 101, Some(501), fin, 0),
            (S, 501, Some(101), none, 0),
            (S, 501, Some(102), none, 0),
        ],
    );
    let report = replay_file(&tcp, &crossed, Some(SERVER.into()));
    assert_eq!(
        agreeing(&report).join(" "),
        "CLOSED LISTEN SYN_RCVD ESTABLISHED CLOSE_WAIT",
        "{report}"
    );
    // But twice behind is not a crossing.
    let twice = synthetic(
        "fin-ignored-twice",
        &[
            (C, 100, None, syn, 0),
            (S, 500, Some(101), syn, 0),
            (C, 101, Some(501), none, 0),
            (C, 101, Some(501), fin, 0),
            (S, 501, Some(101), none, 0),
            (S, 501, Some(101), none, 0),
        ],
    );
    let report = replay_file(&tcp, &twice, None);
    let d = report.first_disagreement().expect("flagged");
    assert_eq!((d.frame, d.event), (6, Some("rcv_fin")), "{report}");
    // The client's TIME_WAIT ends unseen; the server's FIN again then
    // meets no TCB, and the RST answering it is the spec's: the replay
    // takes time_wait_timeout, then rcv_segment in CLOSED.
    let time_wait_over = synthetic(
        "time-wait-over",
        &[
            (C, 100, None, syn, 0),
            (S, 500, Some(101), syn, 0),
            (C, 101, Some(501), none, 0),
            (C, 101, Some(501), fin, 0),
            (S, 501, Some(102), none, 0),
            (S, 501, Some(102), fin, 0),
            (C, 102, Some(502), none, 0),
            (S, 501, Some(102), fin, 0),
            (C, 102, None, rst, 0),
        ],
    );
    let report = replay_file(&tcp, &time_wait_over, Some(CLIENT.into()));
    assert_eq!(
        agreeing(&report).join(" "),
        "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT CLOSED",
        "{report}"
    );
    let events: Vec<&str> = report.connections[0]
        .steps
        .iter()
        .map(|s| s.event)
        .collect();
    assert!(
        events.ends_with(&["time_wait_timeout", "rcv_segment"]),
        "{events:?}"
    );
    // No listener: the RST answering a SYN is the spec's in CLOSED.
    let refused = synthetic(
        "refused",
        &[(C, 100, None, syn, 0), (S, 0, Some(101), rst, 0)],
    );
    let report = replay_file(&tcp, &refused, None);
    assert_eq!(agreeing(&report).join(" "), "CLOSED", "{report}");
    assert_eq!(report.connections[0].steps[0].event, "rcv_segment");
    let _ = std::fs::remove_dir_all(dir("synthetic"));
}

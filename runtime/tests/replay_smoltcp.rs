//! `fsm-lab replay` on smoltcp's TCP: our endpoint captures an exchange
//! with a smoltcp peer (its capture is the wire between them), and the
//! capture replayed from smoltcp's side agrees with tcp.fsm, with either
//! side as client and either side closing first. The states the replay
//! lists end where smoltcp's socket ended.

mod common;
mod smoltcp_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use common::{pattern, udp_addr};
use fsm_lab::replay::{Capture, Outcome, replay};
use fsm_runtime::loaded::Loaded;
use fsm_runtime::{Config, Endpoint, Options};
use smoltcp::socket::tcp::State as SmolState;
use smoltcp_support::SmolPeer;

const LIMIT: Duration = Duration::from_secs(10);
const BYTES: usize = 40_000;

/// smoltcp's state by RFC 9293's name, as tcp.fsm spells it.
fn rfc_name(s: SmolState) -> &'static str {
    match s {
        SmolState::Closed => "CLOSED",
        SmolState::Listen => "LISTEN",
        SmolState::SynSent => "SYN_SENT",
        SmolState::SynReceived => "SYN_RCVD",
        SmolState::Established => "ESTABLISHED",
        SmolState::FinWait1 => "FIN_WAIT_1",
        SmolState::FinWait2 => "FIN_WAIT_2",
        SmolState::CloseWait => "CLOSE_WAIT",
        SmolState::Closing => "CLOSING",
        SmolState::LastAck => "LAST_ACK",
        SmolState::TimeWait => "TIME_WAIT",
    }
}

/// An exchange of `BYTES` each way; smoltcp is the server if
/// `smol_serves`, and closes first if `smol_closes`. Returns the states
/// the replay lists for smoltcp's side and smoltcp's final state.
fn exchange(
    name: &str,
    smol_serves: bool,
    smol_closes: bool,
    seed: u64,
) -> (Vec<String>, SmolState) {
    let dir = std::env::temp_dir().join(format!("fsm-replay-smoltcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap: PathBuf = dir.join(format!("{name}.pcap"));
    let mut o = Options::with_config(Config::loopback(Duration::from_millis(50)));
    o.pcap = Some(pcap.clone());
    let ep = Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), o).unwrap();
    let smol = SmolPeer::new(udp_addr(&ep), 256 * 1024, seed, Duration::from_secs(30));
    let stream = if smol_serves {
        smol.listen();
        ep.connect(smol.addr(), LIMIT).unwrap()
    } else {
        let port = udp_addr(&ep).port();
        let listener = ep.listen(port, 1).unwrap();
        smol.connect(SocketAddrV4::new(ep.inner_addr(), port));
        listener.accept_timeout(LIMIT).unwrap().0
    };
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let to_smol = pattern(BYTES, seed);
    let to_ours = pattern(BYTES, seed + 1);

    // The capture is taken at our endpoint, and the replay reads it as
    // smoltcp saw the wire: no segment of smoltcp's may cross our FIN. So
    // ours sends everything, has it acknowledged (which smoltcp 0.14 needs
    // too, see smoltcp.rs, on a FIN riding on data), reads all of
    // smoltcp's data, and only then closes when it is our turn.
    let ours = {
        let data = to_smol.clone();
        std::thread::spawn(move || {
            (&stream).write_all(&data).unwrap();
            (&stream).flush().unwrap();
            let mut got = vec![0u8; BYTES];
            (&stream).read_exact(&mut got).unwrap();
            if !smol_closes {
                stream.shutdown(Shutdown::Write).unwrap();
            }
            let mut rest = Vec::new();
            (&stream).read_to_end(&mut rest).unwrap();
            got.extend(rest);
            if smol_closes {
                stream.shutdown(Shutdown::Write).unwrap();
            }
            let _ = stream.wait_finished(LIMIT);
            got
        })
    };
    let got = smol
        .exchange(LIMIT, &to_ours, smol_closes)
        .unwrap_or_else(|e| panic!("{e}\n{}", smol.log()));
    assert_eq!(got, to_smol);
    assert_eq!(ours.join().unwrap(), to_ours);
    let end = smol.wait_state(LIMIT, |s| {
        matches!(s, SmolState::TimeWait | SmolState::Closed)
    });
    drop(ep); // flushes the capture

    let tcp = Loaded::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
    let capture = Capture::read_file(&pcap).unwrap();
    let report = replay(&tcp, &capture, Some(smol.addr().into())).unwrap();
    println!("{name}:\n{report}");
    assert!(report.agrees(), "{report}\n{}", smol.log());
    assert_eq!(report.connections.len(), 1, "{report}");
    let c = &report.connections[0];
    assert_eq!(c.outcome, Outcome::Agrees);
    let _ = std::fs::remove_file(&pcap);
    (c.states.iter().map(|s| s.to_string()).collect(), end)
}

fn check(states: &[String], end: SmolState, opening: &str, closing: &[&str]) {
    assert_eq!(states.first().map(String::as_str), Some("CLOSED"));
    assert_eq!(
        states.get(1).map(String::as_str),
        Some(opening),
        "{states:?}"
    );
    assert!(states.iter().any(|s| s == "ESTABLISHED"), "{states:?}");
    for s in closing {
        assert!(states.iter().any(|x| x == s), "{s} in {states:?}");
    }
    assert_eq!(
        states.last().map(String::as_str),
        Some(rfc_name(end)),
        "the replay ends where smoltcp did: {states:?}"
    );
}

#[test]
fn smoltcp_server_closing_first_agrees_with_tcp_fsm() {
    let (states, end) = exchange("server-closes", true, true, 11);
    check(&states, end, "LISTEN", &["FIN_WAIT_1"]);
}

#[test]
fn smoltcp_client_closing_second_agrees_with_tcp_fsm() {
    let (states, end) = exchange("client-closes-second", false, false, 12);
    check(&states, end, "SYN_SENT", &["CLOSE_WAIT", "LAST_ACK"]);
}

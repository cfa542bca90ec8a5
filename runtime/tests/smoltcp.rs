//! Interop with smoltcp: a smoltcp `Interface` on a device that carries each
//! IPv4 packet in one UDP datagram, against our endpoint over loopback.
//! Bulk data both ways with either side as client and either side closing
//! first, a simultaneous close, and a reset from either side.
//!
//! A failure prints smoltcp's latest segments. With `SMOLTCP_PCAP_DIR` set,
//! each test also writes what our endpoint sent and received to
//! `<test name>.pcap` there.

mod common;
mod smoltcp_support;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{hash, pattern, udp_addr};
use fsm_runtime::{Config, Endpoint, Options, Stream};
use smoltcp::socket::tcp::State as SmolState;
use smoltcp_support::SmolPeer;

const MIB: usize = 1 << 20;

/// Bound of every wait in a transfer.
const LIMIT: Duration = Duration::from_secs(15);

/// Bound of every wait for a state.
const SHORT: Duration = Duration::from_secs(5);

/// smoltcp's polling thread stops by itself after this.
const LIFETIME: Duration = Duration::from_secs(30);

/// smoltcp's TCP buffers.
const SMOL_BUFFER: usize = 256 * 1024;

/// Which side is the client.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pairing {
    /// Our client, a smoltcp server.
    OurClient,
    /// A smoltcp client, our server.
    OurServer,
}

/// Which side sends its FIN first.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Closer {
    Ours,
    Smoltcp,
}

fn endpoint() -> Endpoint {
    let mut options = Options::with_config(Config::loopback(Duration::from_millis(50)));
    if let Some(dir) = std::env::var_os("SMOLTCP_PCAP_DIR") {
        let name = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        options.pcap = Some(std::path::Path::new(&dir).join(format!("{name}.pcap")));
    }
    Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), options).expect("bind")
}

/// An endpoint of ours and a smoltcp peer talking to it.
fn pair(seed: u64) -> (Endpoint, SmolPeer) {
    let ep = endpoint();
    let smol = SmolPeer::new(udp_addr(&ep), SMOL_BUFFER, seed, LIFETIME);
    (ep, smol)
}

/// Opens a connection between `ep` and `smol`, the client as `pairing`
/// says; returns once both ends are ESTABLISHED.
fn open(pairing: Pairing, ep: &Endpoint, smol: &SmolPeer) -> Stream {
    let stream = match pairing {
        Pairing::OurClient => {
            smol.listen();
            ep.connect(smol.addr(), SHORT)
                .expect("our connect to smoltcp")
        }
        Pairing::OurServer => {
            let port = udp_addr(ep).port();
            let listener = ep.listen(port, 1).expect("listen");
            smol.connect(SocketAddrV4::new(ep.inner_addr(), port));
            listener
                .accept_timeout(SHORT)
                .expect("accept smoltcp's connection")
                .0
        }
    };
    let st = smol.wait_state(SHORT, |s| s == SmolState::Established);
    assert_eq!(
        st,
        SmolState::Established,
        "smoltcp's end opens\n{}",
        smol.log()
    );
    assert_eq!(state(&stream), "ESTABLISHED");
    stream
}

fn state(stream: &Stream) -> String {
    stream.state().map_or("released".into(), |s| s.to_string())
}

/// Whether our connection passed through `to`.
fn passed(stream: &Stream, to: &str) -> bool {
    stream.trace().iter().any(|e| e.transition.to == to)
}

/// Our connection's transitions: `(from, event, to)`.
fn events(stream: &Stream) -> Vec<(&'static str, &'static str, &'static str)> {
    stream
        .trace()
        .iter()
        .map(|e| (e.transition.from, e.transition.event, e.transition.to))
        .collect()
}

/// The states our connection went through, in order.
fn path(stream: &Stream) -> String {
    let trace = stream.trace();
    let mut states: Vec<&str> = trace
        .first()
        .map(|e| e.transition.from)
        .into_iter()
        .collect();
    states.extend(trace.iter().map(|e| e.transition.to));
    states.join(" -> ")
}

/// Our side of a transfer, on threads of its own: sends `out` while
/// reading until the peer's FIN; our FIN goes once `out` is acknowledged
/// if `close_first`, else after the peer's FIN. The answer comes on the
/// channel (the threads end by themselves: reads time out, and a write
/// fails once the connection gives up).
///
/// Our FIN waits for the ACK of our data because of a smoltcp 0.14 bug: it
/// trims an arriving segment to the right edge of the window it last
/// advertised, an edge that can recede by a few bytes when window scaling
/// rounds the window down, yet keeps the FIN of the trimmed segment and
/// places it at the edge. A FIN riding on our last data then loses the
/// trimmed bytes, and smoltcp takes the stream as ended short. A FIN on a
/// segment of its own cannot be trimmed.
fn our_exchange(
    stream: Arc<Stream>,
    out: Vec<u8>,
    close_first: bool,
) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let run = || -> io::Result<Vec<u8>> {
            let writer = {
                let stream = stream.clone();
                std::thread::spawn(move || -> io::Result<()> {
                    (&*stream).write_all(&out)?;
                    (&*stream).flush()?;
                    if close_first {
                        stream.shutdown(Shutdown::Write)?;
                    }
                    Ok(())
                })
            };
            let mut got = Vec::with_capacity(MIB);
            (&*stream).read_to_end(&mut got)?;
            writer
                .join()
                .map_err(|_| io::Error::other("writer panicked"))??;
            if !close_first {
                stream.shutdown(Shutdown::Write)?;
            }
            Ok(got)
        };
        let _ = tx.send(run());
    });
    rx
}

/// smoltcp's side of a transfer (see [`SmolPeer::exchange`]).
fn smol_exchange(smol: &SmolPeer, out: &[u8], close_first: bool) -> Result<Vec<u8>, String> {
    smol.exchange(LIMIT, out, close_first)
}

/// Whether the wire log shows an RST from us to smoltcp.
fn reset_by_us(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("-> smoltcp") && l.contains("RST"))
}

/// Waits for smoltcp's socket to end after it closed first: in TimeWait
/// (smoltcp waits there 10 s), or Closed if a late duplicate of its last
/// ACK met our connection gone and we answered with an RST (RFC 9293
/// 3.10.7.1), which smoltcp obeys in TIME-WAIT. Returns the state.
fn smol_time_wait(smol: &SmolPeer) -> SmolState {
    let end = smol.wait_state(SHORT, |s| {
        matches!(s, SmolState::TimeWait | SmolState::Closed)
    });
    let log = smol.log();
    assert!(
        end == SmolState::TimeWait || (end == SmolState::Closed && reset_by_us(&log)),
        "smoltcp's end: {end}\n{log}"
    );
    end
}

/// Where `got` first differs from `want`.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!("first difference at byte {i}"),
        None if got.len() == want.len() => "no difference".into(),
        None => format!(
            "one is a prefix of the other, lengths {} and {}",
            got.len(),
            want.len()
        ),
    }
}

/// 1 MiB each way between our endpoint and smoltcp, `closer` closing
/// first and the other side after reading that FIN. Both end closed: ours
/// CLOSED, through TIME_WAIT if it closed first and LAST_ACK otherwise;
/// smoltcp's in TimeWait if it closed first, else Closed.
fn transfer(pairing: Pairing, closer: Closer, seed: u64) {
    let began = Instant::now();
    let (ep, smol) = pair(seed);
    let to_smol = pattern(MIB, seed);
    let to_ours = pattern(MIB, seed ^ 0xffff);
    let stream = open(pairing, &ep, &smol);
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    let stream = Arc::new(stream);

    let ours = our_exchange(stream.clone(), to_smol.clone(), closer == Closer::Ours);
    let smol_got = smol_exchange(&smol, &to_ours, closer == Closer::Smoltcp)
        .unwrap_or_else(|e| panic!("{e}; ours {}\n{}", path(&stream), smol.log()));
    let our_got = ours
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("our side hangs in {}\n{}", path(&stream), smol.log()))
        .unwrap_or_else(|e| panic!("our side failed: {e}; {}\n{}", path(&stream), smol.log()));
    let moved = began.elapsed();

    assert_eq!(
        (our_got.len(), hash(&our_got)),
        (MIB, hash(&to_ours)),
        "we received smoltcp's bytes; {}\n{}",
        first_difference(&our_got, &to_ours),
        smol.log()
    );
    assert_eq!(
        (smol_got.len(), hash(&smol_got)),
        (MIB, hash(&to_smol)),
        "smoltcp received our bytes; {}\n{}",
        first_difference(&smol_got, &to_smol),
        smol.log()
    );

    let end = stream.wait_finished(SHORT).map(|s| s.to_string());
    assert_eq!(
        end.ok().as_deref(),
        Some("CLOSED"),
        "ours ends CLOSED: {}\n{}",
        path(&stream),
        smol.log()
    );
    let smol_end = match closer {
        Closer::Ours => {
            let end = smol.wait_state(SHORT, |s| s == SmolState::Closed);
            assert_eq!(
                end,
                SmolState::Closed,
                "smoltcp's end after LastAck\n{}",
                smol.log()
            );
            end
        }
        Closer::Smoltcp => smol_time_wait(&smol),
    };
    match closer {
        Closer::Ours => assert!(
            passed(&stream, "TIME_WAIT"),
            "ours closed first: {}",
            path(&stream)
        ),
        Closer::Smoltcp => assert!(
            passed(&stream, "CLOSE_WAIT")
                && passed(&stream, "LAST_ACK")
                && !passed(&stream, "TIME_WAIT"),
            "smoltcp closed first: {}",
            path(&stream)
        ),
    }
    println!(
        "{pairing:?}, {closer:?} closes first: 2 MiB moved in {moved:?}, closed in {:?}; ours {}; smoltcp ends {smol_end}",
        began.elapsed(),
        path(&stream)
    );
}

#[test]
fn our_client_smoltcp_server_we_close_first() {
    transfer(Pairing::OurClient, Closer::Ours, 1);
}

#[test]
fn our_client_smoltcp_server_smoltcp_closes_first() {
    transfer(Pairing::OurClient, Closer::Smoltcp, 2);
}

#[test]
fn smoltcp_client_our_server_smoltcp_closes_first() {
    transfer(Pairing::OurServer, Closer::Smoltcp, 3);
}

#[test]
fn smoltcp_client_our_server_we_close_first() {
    transfer(Pairing::OurServer, Closer::Ours, 4);
}

/// A little data each way, checked, so that later segments carry
/// sequence numbers away from the ISNs.
fn some_data(stream: &Stream, smol: &SmolPeer, seed: u64) {
    let ours = pattern(10_000, seed);
    let theirs = pattern(10_000, seed ^ 0xff);
    (&*stream).write_all(&ours).expect("our write");
    let mut got = Vec::new();
    let mut sent = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let r = smol.wait_for(SHORT, |net| {
        let s = net.tcp();
        if sent < theirs.len() && s.can_send() {
            sent += s.send_slice(&theirs[sent..]).unwrap_or(0);
        }
        while let Ok(n @ 1..) = s.recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        (got.len() == ours.len() && sent == theirs.len()).then_some(())
    });
    assert!(
        r.is_some(),
        "smoltcp's side of the exchange\n{}",
        smol.log()
    );
    assert_eq!(got, ours, "smoltcp received our bytes");
    let mut back = vec![0u8; theirs.len()];
    let mut reader = stream;
    reader.read_exact(&mut back).expect("our read");
    assert_eq!(back, theirs, "we received smoltcp's bytes");
}

/// Both sides close at once: our FIN leaves, then smoltcp's before
/// smoltcp has processed ours (its polling thread waits for the lock), so
/// each FIN crosses the other. Ours goes FIN_WAIT_1 -> CLOSING ->
/// TIME_WAIT -> CLOSED; smoltcp's goes through Closing to TimeWait.
fn simultaneous_close(pairing: Pairing, seed: u64) {
    let (ep, smol) = pair(seed);
    let stream = open(pairing, &ep, &smol);
    stream.set_read_timeout(Some(SHORT)).unwrap();
    some_data(&stream, &smol, seed);
    {
        let mut net = smol.lock();
        stream.shutdown(Shutdown::Write).expect("our shutdown");
        net.tcp().close();
        net.egress();
    }
    smol_time_wait(&smol);
    let mut rest = Vec::new();
    let mut reader = &stream;
    reader
        .read_to_end(&mut rest)
        .expect("our read of smoltcp's FIN");
    assert!(rest.is_empty());
    let end = stream.wait_finished(SHORT).map(|s| s.to_string());
    assert_eq!(
        end.ok().as_deref(),
        Some("CLOSED"),
        "{}\n{}",
        path(&stream),
        smol.log()
    );
    let trace = stream.trace();
    let seq: Vec<(&str, &str)> = trace
        .iter()
        .map(|e| (e.transition.from, e.transition.to))
        .filter(|(from, to)| from != to)
        .skip_while(|t| *t != ("ESTABLISHED", "FIN_WAIT_1"))
        .collect();
    assert_eq!(
        seq,
        [
            ("ESTABLISHED", "FIN_WAIT_1"),
            ("FIN_WAIT_1", "CLOSING"),
            ("CLOSING", "TIME_WAIT"),
            ("TIME_WAIT", "CLOSED")
        ],
        "ours: {}\n{}",
        path(&stream),
        smol.log()
    );
    println!("{pairing:?}: ours {}", path(&stream));
}

#[test]
fn simultaneous_close_our_client() {
    simultaneous_close(Pairing::OurClient, 5);
}

#[test]
fn simultaneous_close_our_server() {
    simultaneous_close(Pairing::OurServer, 6);
}

/// smoltcp aborts: its RST makes our blocked read fail with
/// ConnectionReset, and our connection ends CLOSED.
fn smoltcp_resets(pairing: Pairing, seed: u64) {
    let (ep, smol) = pair(seed);
    let stream = open(pairing, &ep, &smol);
    stream.set_read_timeout(Some(SHORT)).unwrap();
    some_data(&stream, &smol, seed);
    let stream = Arc::new(stream);
    let (tx, rx) = mpsc::channel();
    {
        let stream = stream.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 100];
            let _ = tx.send((&*stream).read(&mut buf));
        });
    }
    // Let the read block first (it fails the same way if it comes late).
    std::thread::sleep(Duration::from_millis(50));
    smol.with(|n| n.tcp().abort());
    assert_eq!(smol.state(), SmolState::Closed);
    let read = rx.recv_timeout(SHORT).expect("our read returns");
    assert_eq!(
        read.as_ref().map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset),
        "our read after smoltcp's RST: {}\n{}",
        path(&stream),
        smol.log()
    );
    let end = stream.wait_finished(SHORT).map(|s| s.to_string());
    assert_eq!(
        end.ok().as_deref(),
        Some("CLOSED"),
        "{}\n{}",
        path(&stream),
        smol.log()
    );
    assert_eq!(
        stream.error().map(|e| e.kind()),
        Some(io::ErrorKind::ConnectionReset)
    );
    // smoltcp's RST carries exactly our RCV.NXT, so it is taken at once
    // (no challenge ACK first).
    assert_eq!(
        events(&stream).last().copied(),
        Some(("ESTABLISHED", "rcv_rst", "CLOSED")),
        "{}\n{}",
        path(&stream),
        smol.log()
    );
    assert!(!events(&stream).iter().any(|e| e.1 == "rcv_rst_in_window"));
    println!("{pairing:?}: ours {}", path(&stream));
}

#[test]
fn smoltcp_abort_resets_our_client() {
    smoltcp_resets(Pairing::OurClient, 7);
}

#[test]
fn smoltcp_abort_resets_our_server() {
    smoltcp_resets(Pairing::OurServer, 8);
}

/// We abort: our RST closes smoltcp's socket (well before its own 10 s
/// timeout), and ours ends CLOSED.
fn we_reset(pairing: Pairing, seed: u64) {
    let (ep, smol) = pair(seed);
    let stream = open(pairing, &ep, &smol);
    stream.set_read_timeout(Some(SHORT)).unwrap();
    some_data(&stream, &smol, seed);
    let began = Instant::now();
    stream.abort().expect("our abort");
    let smol_end = smol.wait_state(SHORT, |s| s == SmolState::Closed);
    assert_eq!(
        smol_end,
        SmolState::Closed,
        "smoltcp's end after our RST\n{}",
        smol.log()
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "closed by the RST, not a timeout"
    );
    let log = smol.log();
    assert!(reset_by_us(&log), "smoltcp received our RST\n{log}");
    let end = stream.wait_finished(SHORT).map(|s| s.to_string());
    assert_eq!(end.ok().as_deref(), Some("CLOSED"), "{}", path(&stream));
    assert_eq!(
        events(&stream).last().copied(),
        Some(("ESTABLISHED", "abort", "CLOSED"))
    );
    println!("{pairing:?}: ours {}", path(&stream));
}

#[test]
fn our_abort_closes_smoltcp_server() {
    we_reset(Pairing::OurClient, 9);
}

#[test]
fn our_abort_closes_smoltcp_client() {
    we_reset(Pairing::OurServer, 10);
}

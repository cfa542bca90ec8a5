//! Every (transition, source state) pair of tcp.fsm, taken over real
//! loopback UDP: between two endpoints, and against a raw peer that sends
//! hand-made segments where a well-behaved peer never would (resets,
//! crossing SYNs and FINs, segments outside the window) or stops
//! acknowledging. Every event raised is held against the spec by the
//! oracle as it happens.
//!
//! Prints "transitions covered: N/M pairs" and the guard outcomes seen.
//! Fails if a pair is not taken, if tcp.fsm has a pair this runtime never
//! raises (the user timeout where nothing awaits an ACK), if a guard
//! outcome the Endpoint API can reach is not seen, or at the first step the
//! oracle rejects.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{
    RawPeer, Seen, Seg, config, coverage, endpoint_with_steps, eventually, saw, udp_addr,
};
use fsm_lab::oracle::{Checker, Oracle};
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::{Machine, TransitionInfo};
use fsm_runtime::wire::seq::SeqNum;
use fsm_runtime::wire::tcp::Flags;
use fsm_runtime::{Config, Endpoint, Stream};

const SEC: Duration = Duration::from_secs(1);

/// The raw peer's initial sequence number.
const RAW_ISS: SeqNum = SeqNum(7_000_000);

fn ack() -> Flags {
    Flags::empty()
}

/// The spec, read once for every endpoint's checker.
fn oracle() -> &'static Oracle {
    static ORACLE: OnceLock<Oracle> = OnceLock::new();
    ORACLE.get_or_init(|| Oracle::in_workspace("tcp.fsm"))
}

/// What the run saw, across every endpoint it made: the transitions (for
/// coverage), every event raised (for guard outcomes), and the steps the
/// oracle rejected.
#[derive(Default)]
struct Run {
    seen: Seen,
    steps: Arc<Mutex<Vec<StepRecord>>>,
    rejected: Arc<Mutex<Vec<String>>>,
}

impl Run {
    /// An endpoint with short timers whose every event is recorded and
    /// held against the spec.
    fn endpoint(&self) -> Endpoint {
        self.endpoint_with(config())
    }

    /// An endpoint with `config` whose every event is recorded and held
    /// against the spec (one checker per endpoint: connections do not
    /// span endpoints).
    fn endpoint_with(&self, config: Config) -> Endpoint {
        let steps = self.steps.clone();
        let rejected = self.rejected.clone();
        let mut checker = Checker::new(oracle());
        let on_step = Box::new(move |r: &StepRecord| {
            if let Err(e) = checker.check(r) {
                rejected.lock().unwrap_or_else(|e| e.into_inner()).push(e);
            }
            steps
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r.clone());
        });
        endpoint_with_steps(&self.seen, config, on_step)
    }

    /// Whether some connection went from `from` to `to` on `event`.
    fn saw(&self, from: &str, event: &str, to: &str) -> bool {
        saw(&self.seen, from, event, to)
    }

    /// The first step the oracle rejected, if any.
    fn first_rejected(&self) -> Option<String> {
        self.rejected.lock().unwrap().first().cloned()
    }
}

/// Starts a connection from `ep` to the raw peer and returns it with the
/// SYN it sent.
fn connect_to_raw(ep: &Endpoint, raw: &RawPeer, timeout: Duration) -> (Stream, Seg) {
    let s = ep
        .start_connect(None, raw.addr.into(), raw.addr.into(), timeout)
        .expect("connect");
    let syn = raw
        .recv_matching(SEC, |g| g.flags.syn() && g.ack.is_none())
        .expect("our SYN");
    (s, syn)
}

/// Where the raw peer reaches the endpoint's connection that sent `syn`.
fn conn_addr(ep: &Endpoint, syn: &Seg) -> SocketAddrV4 {
    SocketAddrV4::new(*udp_addr(ep).ip(), syn.src_port)
}

/// Completes the handshake the ordinary way: SYN-ACK, then the endpoint's
/// ACK. Returns (our next seq, the endpoint's next seq).
fn raw_accept(ep: &Endpoint, raw: &RawPeer, s: &Stream, syn: &Seg) -> (SeqNum, SeqNum) {
    let to = conn_addr(ep, syn);
    raw.send(
        raw.addr.port(),
        to,
        RAW_ISS,
        Some(syn.seq + 1),
        Flags::SYN,
        &[],
    );
    let a = raw
        .recv_matching(SEC, |g| g.ack == Some(RAW_ISS + 1))
        .expect("ACK of our SYN");
    s.wait_open(SEC).expect("open");
    (RAW_ISS + 1, a.seq)
}

/// Client and server the ordinary way: the article's two numbered paths,
/// SEND in ESTABLISHED and CLOSE_WAIT, and closing a listener.
fn ordinary_exchange(run: &Run) {
    let server = run.endpoint();
    let client = run.endpoint();
    let listener = server.listen(udp_addr(&server).port(), 4).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept().unwrap().0;
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        s.close(SEC).unwrap().to_string()
    });
    let mut c = client.connect(udp_addr(&server), SEC).unwrap();
    c.write_all(b"ping").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ping");
    assert_eq!(c.wait_finished(SEC).unwrap().to_string(), "CLOSED");
    assert_eq!(t.join().unwrap(), "CLOSED");
    assert!(run.saw("TIME_WAIT", "time_wait_timeout", "CLOSED"));
    assert!(run.saw("LAST_ACK", "rcv_ack", "CLOSED"));
    assert!(eventually(SEC, || run.saw("LISTEN", "close", "CLOSED")));
}

/// A SYN to a port nobody listens on: the host's CLOSED machine answers
/// with RST, and the connect is refused.
fn refused(run: &Run) {
    let server = run.endpoint();
    let client = run.endpoint();
    let err = client.connect(udp_addr(&server), SEC).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(run.saw("CLOSED", "rcv_segment", "CLOSED"));
    assert!(run.saw("SYN_SENT", "rcv_rst", "CLOSED"));
}

/// A listener ignores an RST and answers a stray ACK with RST.
fn listener_strays(run: &Run) {
    let server = run.endpoint();
    let _listener = server.listen(udp_addr(&server).port(), 4).unwrap();
    let raw = RawPeer::new(udp_addr(&server));
    raw.send(4000, udp_addr(&server), SeqNum(1), None, Flags::RST, &[]);
    raw.send(
        4001,
        udp_addr(&server),
        SeqNum(1),
        Some(SeqNum(12345)),
        ack(),
        &[],
    );
    let rst = raw
        .recv_matching(SEC, |g| g.flags.rst())
        .expect("RST for the stray ACK");
    assert_eq!(rst.seq, SeqNum(12345), "<SEQ=SEG.ACK><CTL=RST>");
    assert!(run.saw("LISTEN", "rcv_rst", "LISTEN"));
    assert!(run.saw("LISTEN", "rcv_bad_ack", "LISTEN"));
}

/// A fully specified passive open turned active by a write.
fn passive_open_then_send(run: &Run) {
    let a = run.endpoint();
    let b = run.endpoint();
    let b_listener = b.listen(udp_addr(&b).port(), 4).unwrap();
    let mut sa = a
        .listen_for(7100, udp_addr(&b).into(), udp_addr(&b).into())
        .unwrap();
    sa.write_all(b"first words").unwrap();
    let mut sb = b_listener.accept_timeout(SEC).unwrap().0;
    let mut got = [0u8; 11];
    sb.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"first words");
    assert!(run.saw("LISTEN", "send", "SYN_SENT"));
    sb.abort().unwrap();
    let mut rest = Vec::new();
    let err = sa.read_to_end(&mut rest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert!(run.saw("ESTABLISHED", "abort", "CLOSED"));
    assert!(run.saw("ESTABLISHED", "rcv_rst", "CLOSED"));
}

/// Crossing SYNs, blind-attack segments, crossing FINs, and TIME_WAIT's
/// answers to a repeated FIN and to an RST.
fn simultaneous_open_and_close(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    let me = raw.addr.port();
    // Our own SYN crosses theirs: SYN_SENT -> SYN_RCVD, answered with SYN-ACK.
    raw.send(me, to, RAW_ISS, None, Flags::SYN, &[]);
    let syn_ack = raw
        .recv_matching(SEC, |g| g.flags.syn() && g.ack.is_some())
        .expect("SYN-ACK");
    assert_eq!((syn_ack.seq, syn_ack.ack), (syn.seq, Some(RAW_ISS + 1)));
    let their = syn.seq + 1;
    let mine = RAW_ISS + 1;
    raw.send(me, to, mine, Some(their), ack(), &[]);
    s.wait_open(SEC).unwrap();
    assert!(run.saw("SYN_SENT", "rcv_syn", "SYN_RCVD"));
    // RFC 5961: a SYN and an inexact RST in the window get challenge ACKs;
    // a segment outside the window gets an ACK.
    raw.send(me, to, mine + 10, None, Flags::SYN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine) && !g.flags.syn())
        .expect("challenge ACK (SYN)");
    raw.send(me, to, mine + 5, None, Flags::RST, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine))
        .expect("challenge ACK (RST)");
    raw.send(me, to, mine + 10_000_000, Some(their), ack(), b"far away");
    raw.recv_matching(SEC, |g| g.ack == Some(mine))
        .expect("ACK for an unacceptable segment");
    assert!(
        s.error().is_none(),
        "blind segments must not hurt the connection"
    );
    // Both close at once: their FIN does not acknowledge ours.
    s.shutdown(Shutdown::Write).unwrap();
    let fin = raw.recv_matching(SEC, |g| g.flags.fin()).expect("our FIN");
    raw.send(me, to, mine, Some(their), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK of their FIN");
    assert!(run.saw("FIN_WAIT_1", "rcv_fin", "CLOSING"));
    // Their FIN again while CLOSING: acknowledged again.
    raw.send(me, to, mine, Some(their), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK of the repeated FIN");
    assert!(run.saw("CLOSING", "rcv_fin", "CLOSING"));
    // Now they acknowledge our FIN: TIME_WAIT.
    raw.send(me, to, mine + 1, Some(fin.seq + 1), ack(), &[]);
    assert!(eventually(SEC, || run.saw(
        "CLOSING",
        "rcv_ack",
        "TIME_WAIT"
    )));
    // Their FIN once more: TIME_WAIT restarts and acknowledges it.
    raw.send(me, to, mine, Some(fin.seq + 1), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK in TIME_WAIT");
    assert!(run.saw("TIME_WAIT", "rcv_fin", "TIME_WAIT"));
    // An RST at RCV.NXT ends TIME_WAIT.
    raw.send(me, to, mine + 1, None, Flags::RST, &[]);
    assert!(eventually(SEC, || run.saw(
        "TIME_WAIT",
        "rcv_rst",
        "CLOSED"
    )));
    assert!(s.error().is_none(), "an RST in TIME_WAIT is not reported");
}

/// An RST to a connection reached SYN_RCVD by an active open: refused.
fn reset_in_active_syn_rcvd(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    raw.send(raw.addr.port(), to, RAW_ISS, None, Flags::SYN, &[]);
    raw.recv_matching(SEC, |g| g.flags.syn() && g.ack.is_some())
        .expect("SYN-ACK");
    raw.send(raw.addr.port(), to, RAW_ISS + 1, None, Flags::RST, &[]);
    let err = s.wait_open(SEC).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(run.saw("SYN_RCVD", "rcv_rst", "CLOSED"));
}

/// CLOSE in SYN_RCVD sends a FIN; ABORT then sends RST.
/// Our connect's SYN crossed by the raw peer's (SYN_RCVD, our SYN-ACK
/// out), then CLOSE: FIN_WAIT_1. Returns the endpoint, the peer, the
/// stream, our SYN and the connection's address.
fn closed_in_syn_rcvd(run: &Run) -> (Endpoint, RawPeer, Stream, Seg, SocketAddrV4) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    raw.send(raw.addr.port(), to, RAW_ISS, None, Flags::SYN, &[]);
    raw.recv_matching(SEC, |g| g.flags.syn() && g.ack.is_some())
        .expect("SYN-ACK");
    s.shutdown(Shutdown::Write).unwrap();
    assert!(run.saw("SYN_RCVD", "close", "FIN_WAIT_1"));
    (ep, raw, s, syn, to)
}

fn close_and_abort_in_syn_rcvd(run: &Run) {
    let (_ep, raw, s, syn, _) = closed_in_syn_rcvd(run);
    s.abort().unwrap();
    let rst = raw
        .recv_matching(SEC, |g| g.flags.rst())
        .expect("RST on abort");
    assert_eq!(rst.seq, syn.seq + 1, "<SEQ=SND.NXT><CTL=RST>");
    assert!(run.saw("FIN_WAIT_1", "abort", "CLOSED"));
}

/// CLOSE in SYN_RCVD, then the ACK of our SYN alone: FIN_WAIT_1 stays
/// (`[!fin_acked]`) and our FIN goes out; its ACK enters FIN_WAIT_2.
fn close_in_syn_rcvd_then_ack_of_syn(run: &Run) {
    let (_ep, raw, s, syn, to) = closed_in_syn_rcvd(run);
    raw.send(
        raw.addr.port(),
        to,
        RAW_ISS + 1,
        Some(syn.seq + 1),
        ack(),
        &[],
    );
    let fin = raw
        .recv_matching(SEC, |g| g.flags.fin())
        .expect("our FIN, once the SYN is acknowledged");
    assert_eq!(fin.seq, syn.seq + 1);
    assert!(run.saw("FIN_WAIT_1", "rcv_ack", "FIN_WAIT_1"));
    assert_eq!(
        s.state().map(|st| st.to_string()).as_deref(),
        Some("FIN_WAIT_1")
    );
    raw.send(
        raw.addr.port(),
        to,
        RAW_ISS + 1,
        Some(syn.seq + 2),
        ack(),
        &[],
    );
    assert!(eventually(SEC, || s
        .state()
        .map(|st| st.to_string())
        .as_deref()
        == Some("FIN_WAIT_2")));
    s.abort().unwrap();
}

/// A FIN that also acknowledges ours takes FIN_WAIT_1 straight to TIME_WAIT.
fn fin_ack_from_fin_wait_1(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    let (mine, their) = raw_accept(&ep, &raw, &s, &syn);
    s.shutdown(Shutdown::Write).unwrap();
    let fin = raw.recv_matching(SEC, |g| g.flags.fin()).expect("our FIN");
    assert_eq!(fin.seq, their);
    raw.send(raw.addr.port(), to, mine, Some(their + 1), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK of their FIN");
    assert!(run.saw("FIN_WAIT_1", "rcv_fin", "TIME_WAIT"));
    assert_eq!(s.wait_finished(SEC).unwrap().to_string(), "CLOSED");
}

/// A connection whose peer closes first: CLOSE_WAIT, their FIN again,
/// SEND, CLOSE, and an RST in LAST_ACK.
fn peer_closes_first(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (mut s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    let (mine, their) = raw_accept(&ep, &raw, &s, &syn);
    let me = raw.addr.port();
    raw.send(me, to, mine, Some(their), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK of their FIN");
    raw.send(me, to, mine, Some(their), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.ack == Some(mine + 1))
        .expect("ACK of the repeated FIN");
    assert!(run.saw("CLOSE_WAIT", "rcv_fin", "CLOSE_WAIT"));
    s.write_all(b"late reply").unwrap();
    raw.recv_matching(SEC, |g| g.len == 10)
        .expect("data in CLOSE_WAIT");
    s.shutdown(Shutdown::Write).unwrap();
    raw.recv_matching(SEC, |g| g.flags.fin()).expect("our FIN");
    assert!(run.saw("CLOSE_WAIT", "close", "LAST_ACK"));
    raw.send(me, to, mine + 1, None, Flags::RST, &[]);
    assert!(eventually(SEC, || run.saw("LAST_ACK", "rcv_rst", "CLOSED")));
}

/// Our SYN answered by an ACK of something else: RST; then ABORT.
fn bad_ack_in_syn_sent_then_abort(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    raw.send(
        raw.addr.port(),
        to,
        RAW_ISS,
        Some(syn.seq + 1000),
        ack(),
        &[],
    );
    let rst = raw
        .recv_matching(SEC, |g| g.flags.rst())
        .expect("RST for the bad ACK");
    assert_eq!(rst.seq, syn.seq + 1000);
    assert!(run.saw("SYN_SENT", "rcv_bad_ack", "SYN_SENT"));
    s.abort().unwrap();
    assert!(run.saw("SYN_SENT", "abort", "CLOSED"));
}

/// SEND and CLOSE while the SYN is unanswered; and a connect that times
/// out.
fn close_and_time_out_in_syn_sent(run: &Run) {
    let ep = run.endpoint();
    let silent = RawPeer::new(udp_addr(&ep));
    let (s, _) = connect_to_raw(&ep, &silent, SEC);
    (&s).write_all(b"queued").unwrap();
    assert!(run.saw("SYN_SENT", "send", "SYN_SENT"));
    s.shutdown(Shutdown::Write).unwrap();
    assert!(run.saw("SYN_SENT", "close", "CLOSED"));
    let err = ep
        .connect(silent.addr, Duration::from_millis(300))
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(run.saw("SYN_SENT", "user_timeout", "CLOSED"));
}

/// A client that gives up in SYN_RCVD (RST), one that sends a bad ACK, and
/// one whose first ACK carries its FIN.
fn raw_clients(run: &Run) {
    let server = run.endpoint();
    let listener = server.listen(udp_addr(&server).port(), 8).unwrap();
    let to = udp_addr(&server);
    let raw = RawPeer::new(to);
    // SYN, SYN-ACK, RST: the child goes back to LISTEN and is dropped.
    raw.send(5001, to, RAW_ISS, None, Flags::SYN, &[]);
    let sa = raw
        .recv_matching(SEC, |g| g.dst_port == 5001 && g.flags.syn())
        .expect("SYN-ACK");
    raw.send(5001, to, RAW_ISS + 1, None, Flags::RST, &[]);
    assert!(eventually(SEC, || run.saw("SYN_RCVD", "rcv_rst", "LISTEN")));
    // SYN, SYN-ACK, an ACK of nothing we were sent: RST.
    raw.send(5002, to, RAW_ISS, None, Flags::SYN, &[]);
    let sa2 = raw
        .recv_matching(SEC, |g| g.dst_port == 5002 && g.flags.syn())
        .expect("SYN-ACK");
    raw.send(5002, to, RAW_ISS + 1, Some(sa2.seq + 500), ack(), &[]);
    let rst = raw
        .recv_matching(SEC, |g| g.dst_port == 5002 && g.flags.rst())
        .expect("RST");
    assert_eq!(rst.seq, sa2.seq + 500);
    assert!(run.saw("SYN_RCVD", "rcv_bad_ack", "SYN_RCVD"));
    raw.send(5002, to, RAW_ISS + 1, None, Flags::RST, &[]);
    // SYN, SYN-ACK, ACK+FIN in one segment: SYN_RCVD -> CLOSE_WAIT.
    raw.send(5003, to, RAW_ISS, None, Flags::SYN, &[]);
    let sa3 = raw
        .recv_matching(SEC, |g| g.dst_port == 5003 && g.flags.syn())
        .expect("SYN-ACK");
    raw.send(5003, to, RAW_ISS + 1, Some(sa3.seq + 1), Flags::FIN, &[]);
    raw.recv_matching(SEC, |g| g.dst_port == 5003 && g.ack == Some(RAW_ISS + 2))
        .expect("ACK of FIN");
    assert!(run.saw("SYN_RCVD", "rcv_fin", "CLOSE_WAIT"));
    let mut s = listener.accept_timeout(SEC).unwrap().0;
    let mut nothing = Vec::new();
    s.read_to_end(&mut nothing).unwrap();
    assert!(nothing.is_empty());
    s.shutdown(Shutdown::Write).unwrap();
    let fin = raw
        .recv_matching(SEC, |g| g.dst_port == 5003 && g.flags.fin())
        .expect("FIN");
    raw.send(5003, to, RAW_ISS + 2, Some(fin.seq + 1), ack(), &[]);
    assert!(eventually(SEC, || s
        .state()
        .is_some_and(|st| st.to_string() == "CLOSED")));
    let _ = sa;
}

/// A connection from an endpoint to the raw peer, and where the endpoint's
/// sequence numbers stand.
struct Conn {
    s: Stream,
    /// The endpoint's side, as the raw peer addresses it.
    to: SocketAddrV4,
    /// The endpoint's RCV.NXT: the raw peer's next sequence number.
    rcv_nxt: SeqNum,
    /// The endpoint's SND.NXT.
    snd_nxt: SeqNum,
}

impl Conn {
    /// Sends a segment from the raw peer to this connection.
    fn send(&self, raw: &RawPeer, seq: SeqNum, ack: Option<SeqNum>, flags: Flags, payload: &[u8]) {
        raw.send(raw.addr.port(), self.to, seq, ack, flags, payload);
    }

    /// The machine's state, by name.
    fn state(&self) -> String {
        self.s.state().map_or_else(String::new, |s| s.to_string())
    }

    /// Waits until the machine is in `state`.
    fn reaches(&self, state: &str) {
        assert!(
            eventually(SEC, || self.state() == state),
            "expected {state}, found {}",
            self.state()
        );
    }

    /// Whether this connection went from `from` to `to` on `event`.
    fn took(&self, from: &str, event: &str, to: &str) -> bool {
        self.s.trace().iter().any(|e| {
            let t = &e.transition;
            t.from == from && t.event == event && t.to == to
        })
    }

    /// Waits until the connection is gone, and checks that it ended in
    /// CLOSED reporting `error`.
    fn ends(&self, error: Option<ErrorKind>) {
        let state = self.s.wait_finished(SEC).expect("finished");
        assert_eq!(state.to_string(), "CLOSED");
        assert_eq!(self.s.error().map(|e| e.kind()), error);
    }
}

/// A connection from `ep` to the raw peer, opened the ordinary way.
fn established(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let (s, syn) = connect_to_raw(ep, raw, SEC);
    let to = conn_addr(ep, &syn);
    let (rcv_nxt, snd_nxt) = raw_accept(ep, raw, &s, &syn);
    Conn {
        s,
        to,
        rcv_nxt,
        snd_nxt,
    }
}

/// CLOSE on an established connection: FIN_WAIT_1, our FIN on the wire.
fn fin_wait_1(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let mut c = established(ep, raw);
    c.s.shutdown(Shutdown::Write).unwrap();
    let fin = raw.recv_matching(SEC, |g| g.flags.fin()).expect("our FIN");
    assert_eq!(fin.seq, c.snd_nxt, "<SEQ=SND.NXT><CTL=FIN,ACK>");
    c.snd_nxt += 1;
    c.reaches("FIN_WAIT_1");
    c
}

/// Our FIN acknowledged, theirs not sent: FIN_WAIT_2.
fn fin_wait_2(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let c = fin_wait_1(ep, raw);
    c.send(raw, c.rcv_nxt, Some(c.snd_nxt), ack(), &[]);
    c.reaches("FIN_WAIT_2");
    c
}

/// Both FINs crossing, ours unacknowledged: CLOSING.
fn closing(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let mut c = fin_wait_1(ep, raw);
    c.send(raw, c.rcv_nxt, Some(c.snd_nxt - 1), Flags::FIN, &[]);
    c.rcv_nxt += 1;
    let a = raw
        .recv_matching(SEC, |g| bare_ack(g) && g.ack == Some(c.rcv_nxt))
        .expect("ACK of their FIN");
    assert_eq!(a.seq, c.snd_nxt, "<SEQ=SND.NXT><ACK=RCV.NXT>");
    c.reaches("CLOSING");
    c
}

/// Their FIN first: CLOSE_WAIT.
fn close_wait(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let mut c = established(ep, raw);
    c.send(raw, c.rcv_nxt, Some(c.snd_nxt), Flags::FIN, &[]);
    c.rcv_nxt += 1;
    let a = raw
        .recv_matching(SEC, |g| g.ack == Some(c.rcv_nxt))
        .expect("ACK of their FIN");
    assert_eq!(a.seq, c.snd_nxt);
    c.reaches("CLOSE_WAIT");
    c
}

/// Their FIN first, then ours, unacknowledged: LAST_ACK.
fn last_ack(ep: &Endpoint, raw: &RawPeer) -> Conn {
    let mut c = close_wait(ep, raw);
    c.s.shutdown(Shutdown::Write).unwrap();
    let fin = raw.recv_matching(SEC, |g| g.flags.fin()).expect("our FIN");
    assert_eq!(fin.seq, c.snd_nxt, "<SEQ=SND.NXT><CTL=FIN,ACK>");
    c.snd_nxt += 1;
    c.reaches("LAST_ACK");
    c
}

/// A segment with no payload and no SYN, FIN or RST: an ACK.
fn bare_ack(g: &Seg) -> bool {
    g.len == 0 && !g.flags.syn() && !g.flags.fin() && !g.flags.rst() && g.ack.is_some()
}

/// RFC 5961 in `state`: a SYN and an RST in the window but not at RCV.NXT
/// each draw a challenge ACK, a segment outside the window an ACK, each
/// `<SEQ=SND.NXT><ACK=RCV.NXT>`; the state stays.
fn blind_segments(raw: &RawPeer, c: &Conn, state: &str) {
    let answer = |what: &str| {
        raw.recv_matching(SEC, |g| {
            bare_ack(g) && g.seq == c.snd_nxt && g.ack == Some(c.rcv_nxt)
        })
        .unwrap_or_else(|| panic!("{state}: no <SEQ=SND.NXT><ACK=RCV.NXT> for {what}"));
    };
    c.send(raw, c.rcv_nxt + 10, None, Flags::SYN, &[]);
    answer("a SYN in the window");
    assert!(c.took(state, "rcv_syn", state));
    c.send(raw, c.rcv_nxt + 5, None, Flags::RST, &[]);
    answer("an RST in the window");
    assert!(c.took(state, "rcv_rst_in_window", state));
    c.send(
        raw,
        c.rcv_nxt + 10_000_000,
        Some(c.snd_nxt),
        ack(),
        b"far away",
    );
    answer("a segment outside the window");
    assert!(c.took(state, "rcv_unacceptable", state));
    assert_eq!(c.state(), state);
}

/// ABORT where the spec sends no RST: nothing arrives.
fn no_rst(raw: &RawPeer) {
    assert!(
        raw.recv_matching(Duration::from_millis(100), |g| g.flags.rst())
            .is_none(),
        "no RST on this ABORT"
    );
}

/// ABORT where the spec sends `<SEQ=SND.NXT><CTL=RST>`.
fn rst_at(raw: &RawPeer, snd_nxt: SeqNum) {
    let rst = raw
        .recv_matching(SEC, |g| g.flags.rst())
        .expect("RST on abort");
    assert_eq!(rst.seq, snd_nxt, "<SEQ=SND.NXT><CTL=RST>");
}

/// SYN_RCVD by crossing SYNs: SEND is queued, blind segments are answered
/// as RFC 5961 says, and ABORT sends RST.
fn blind_segments_in_syn_rcvd_then_abort(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let (s, syn) = connect_to_raw(&ep, &raw, SEC);
    let to = conn_addr(&ep, &syn);
    raw.send(raw.addr.port(), to, RAW_ISS, None, Flags::SYN, &[]);
    raw.recv_matching(SEC, |g| g.flags.syn() && g.ack == Some(RAW_ISS + 1))
        .expect("SYN-ACK");
    let c = Conn {
        s,
        to,
        rcv_nxt: RAW_ISS + 1,
        snd_nxt: syn.seq + 1,
    };
    (&c.s).write_all(b"early").unwrap();
    assert!(c.took("SYN_RCVD", "send", "SYN_RCVD"));
    blind_segments(&raw, &c, "SYN_RCVD");
    c.s.abort().unwrap();
    rst_at(&raw, c.snd_nxt);
    assert!(c.took("SYN_RCVD", "abort", "CLOSED"));
}

/// FIN_WAIT_1: blind segments, then an RST at RCV.NXT resets it.
fn blind_segments_in_fin_wait_1_then_reset(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let c = fin_wait_1(&ep, &raw);
    blind_segments(&raw, &c, "FIN_WAIT_1");
    c.send(&raw, c.rcv_nxt, None, Flags::RST, &[]);
    c.ends(Some(ErrorKind::ConnectionReset));
    assert!(c.took("FIN_WAIT_1", "rcv_rst", "CLOSED"));
}

/// FIN_WAIT_2: blind segments and ABORT; an RST; the linger timer.
fn fin_wait_2_blind_abort_reset_linger(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let c = fin_wait_2(&ep, &raw);
    blind_segments(&raw, &c, "FIN_WAIT_2");
    c.s.abort().unwrap();
    rst_at(&raw, c.snd_nxt);
    assert!(c.took("FIN_WAIT_2", "abort", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = fin_wait_2(&ep, &raw);
    c.send(&raw, c.rcv_nxt, None, Flags::RST, &[]);
    c.ends(Some(ErrorKind::ConnectionReset));
    assert!(c.took("FIN_WAIT_2", "rcv_rst", "CLOSED"));

    let mut config = config();
    config.linger = Duration::from_millis(150);
    let ep = run.endpoint_with(config);
    let raw = RawPeer::new(udp_addr(&ep));
    let c = fin_wait_2(&ep, &raw);
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("FIN_WAIT_2", "linger_timeout", "CLOSED"));
}

/// CLOSING: blind segments, then an RST (not reported); and ABORT, which
/// sends nothing.
fn closing_blind_reset_abort(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let c = closing(&ep, &raw);
    blind_segments(&raw, &c, "CLOSING");
    c.send(&raw, c.rcv_nxt, None, Flags::RST, &[]);
    c.ends(None);
    assert!(c.took("CLOSING", "rcv_rst", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = closing(&ep, &raw);
    c.s.abort().unwrap();
    assert!(c.took("CLOSING", "abort", "CLOSED"));
    no_rst(&raw);
}

/// TIME_WAIT (reached by FIN+ACK, with a long 2MSL): blind segments, then
/// ABORT, which sends nothing.
fn time_wait_blind_abort(run: &Run) {
    let mut config = config();
    config.msl = SEC;
    let ep = run.endpoint_with(config);
    let raw = RawPeer::new(udp_addr(&ep));
    let mut c = fin_wait_1(&ep, &raw);
    c.send(&raw, c.rcv_nxt, Some(c.snd_nxt), Flags::FIN, &[]);
    c.rcv_nxt += 1;
    let a = raw
        .recv_matching(SEC, |g| bare_ack(g) && g.ack == Some(c.rcv_nxt))
        .expect("ACK of their FIN");
    assert_eq!(a.seq, c.snd_nxt, "<SEQ=SND.NXT><ACK=RCV.NXT>");
    c.reaches("TIME_WAIT");
    blind_segments(&raw, &c, "TIME_WAIT");
    c.s.abort().unwrap();
    assert!(c.took("TIME_WAIT", "abort", "CLOSED"));
    no_rst(&raw);
}

/// CLOSE_WAIT: blind segments, then an RST at RCV.NXT; and ABORT, which
/// sends RST.
fn close_wait_blind_reset_abort(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let c = close_wait(&ep, &raw);
    blind_segments(&raw, &c, "CLOSE_WAIT");
    c.send(&raw, c.rcv_nxt, None, Flags::RST, &[]);
    c.ends(Some(ErrorKind::ConnectionReset));
    assert!(c.took("CLOSE_WAIT", "rcv_rst", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = close_wait(&ep, &raw);
    c.s.abort().unwrap();
    rst_at(&raw, c.snd_nxt);
    assert!(c.took("CLOSE_WAIT", "abort", "CLOSED"));
}

/// LAST_ACK: their FIN again (its ACK lost) is acknowledged again; blind
/// segments; ABORT, which sends nothing.
fn last_ack_fin_blind_abort(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let c = last_ack(&ep, &raw);
    c.send(&raw, c.rcv_nxt - 1, Some(c.snd_nxt - 1), Flags::FIN, &[]);
    let a = raw
        .recv_matching(SEC, |g| bare_ack(g) && g.ack == Some(c.rcv_nxt))
        .expect("ACK of the repeated FIN");
    assert_eq!(a.seq, c.snd_nxt, "<SEQ=SND.NXT><ACK=RCV.NXT>");
    assert!(c.took("LAST_ACK", "rcv_fin", "LAST_ACK"));
    blind_segments(&raw, &c, "LAST_ACK");
    c.s.abort().unwrap();
    assert!(c.took("LAST_ACK", "abort", "CLOSED"));
    no_rst(&raw);
}

/// ABORT of a fully specified passive open still in LISTEN.
fn abort_in_listen(run: &Run) {
    let ep = run.endpoint();
    let raw = RawPeer::new(udp_addr(&ep));
    let s = ep
        .listen_for(7101, raw.addr.into(), raw.addr.into())
        .unwrap();
    s.abort().unwrap();
    assert!(run.saw("LISTEN", "abort", "CLOSED"));
    assert_eq!(s.state().map(|s| s.to_string()).as_deref(), Some("CLOSED"));
}

/// The user timeout wherever something of ours awaits an ACK: a SYN-ACK
/// (SYN_RCVD), data (ESTABLISHED, CLOSE_WAIT), our FIN (FIN_WAIT_1,
/// CLOSING, LAST_ACK). The raw peer stops acknowledging; the connection
/// aborts and reports the timeout.
fn user_timeouts(run: &Run) {
    let mut config = config();
    config.user_timeout = Duration::from_millis(200);
    let ep = run.endpoint_with(config);

    // A client that never acknowledges our SYN-ACK: the child dies.
    let listener = ep.listen(udp_addr(&ep).port(), 4).unwrap();
    let raw = RawPeer::new(udp_addr(&ep));
    raw.send(5100, udp_addr(&ep), RAW_ISS, None, Flags::SYN, &[]);
    raw.recv_matching(SEC, |g| g.flags.syn() && g.ack == Some(RAW_ISS + 1))
        .expect("SYN-ACK");
    assert!(eventually(SEC, || run.saw(
        "SYN_RCVD",
        "user_timeout",
        "CLOSED"
    )));
    drop(listener);

    let raw = RawPeer::new(udp_addr(&ep));
    let mut c = established(&ep, &raw);
    c.s.write_all(b"into the void").unwrap();
    let mut buf = [0u8; 1];
    let err = c.s.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("ESTABLISHED", "user_timeout", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = fin_wait_1(&ep, &raw);
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("FIN_WAIT_1", "user_timeout", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = closing(&ep, &raw);
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("CLOSING", "user_timeout", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let mut c = close_wait(&ep, &raw);
    c.s.write_all(b"unanswered").unwrap();
    raw.recv_matching(SEC, |g| g.len == 10)
        .expect("data in CLOSE_WAIT");
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("CLOSE_WAIT", "user_timeout", "CLOSED"));

    let raw = RawPeer::new(udp_addr(&ep));
    let c = last_ack(&ep, &raw);
    c.ends(Some(ErrorKind::TimedOut));
    assert!(c.took("LAST_ACK", "user_timeout", "CLOSED"));
}

// What this runtime never raises, with why: tcp.fsm must have no pair for
// it (the conformance tester would mark one untestable).
use fsm_lab::conformance::ours::NEVER_RAISED;

/// Guard outcomes the endpoint's API cannot bring about: (source state,
/// event, guard as written, whether it held, why).
const UNREACHABLE_OUTCOMES: &[(&str, &str, &str, bool, &str)] = &[(
    "LISTEN",
    "send",
    "peer_known",
    false,
    "a Listener cannot be written to; a stream in LISTEN comes from listen_for, which always \
     names its peer (and forget_peer restores it)",
)];

/// Every pair of the spec, in table order.
fn pairs() -> Vec<TransitionInfo> {
    use fsm_runtime::tcp::Spec;
    (0..Spec::PAIRS as u32)
        .map(|i| Spec.transition(i))
        .collect()
}

/// `SYN_RCVD rcv_rst [passive] -> LISTEN (line 95)`
fn describe(t: &TransitionInfo) -> String {
    let guard = t.guard.map(|g| format!(" [{g}]")).unwrap_or_default();
    format!(
        "{} {}{guard} -> {} (line {})",
        t.from, t.event, t.to, t.line
    )
}

/// Prints the pairs taken; fails on a pair not taken, or on a pair of
/// tcp.fsm this runtime never raises (a transition that cannot happen).
fn check_pairs(run: &Run) {
    let c = coverage(&run.seen);
    println!("{c}");
    let all = pairs();
    let claimed: Vec<String> = all
        .iter()
        .filter_map(|t| {
            let (_, _, why) = NEVER_RAISED
                .iter()
                .find(|(from, event, _)| t.from == *from && t.event == *event)?;
            Some(format!("{}: {why}", describe(t)))
        })
        .collect();
    assert!(
        claimed.is_empty(),
        "tcp.fsm has pairs this runtime never raises: {claimed:#?}"
    );
    let missing = c.missing();
    let not_taken: Vec<String> = all
        .iter()
        .filter(|t| missing.contains(&(t.index as usize)))
        .map(describe)
        .collect();
    assert!(not_taken.is_empty(), "pairs never taken: {not_taken:#?}");
    assert_eq!(c.covered(), c.total());
}

/// Prints, for every guarded pair, whether its guard was seen to hold (the
/// pair fired) and not to hold (its event was raised in its state and the
/// pair did not fire); fails on an outcome not seen that the API can
/// reach, or one seen that it cannot.
fn check_guard_outcomes(run: &Run) {
    let steps = run.steps.lock().unwrap();
    let mut seen = 0;
    let mut total = 0;
    let mut unseen = Vec::new();
    let mut reached_anyway = Vec::new();
    println!("guard outcomes (held / did not hold):");
    for t in pairs().iter().filter(|t| t.guard.is_some()) {
        let raised = || {
            steps
                .iter()
                .filter(|r| r.from == t.from && r.event.name() == t.event)
        };
        let fired = |r: &StepRecord| r.transition.is_some_and(|f| f.index == t.index);
        let outcomes = [
            (true, raised().any(fired)),
            (false, raised().any(|r| !fired(r))),
        ];
        let guard = t.guard.expect("filtered");
        let mut line = format!("  {}:", describe(t));
        for (held, taken) in outcomes {
            total += 1;
            let unreachable = UNREACHABLE_OUTCOMES.iter().find(|(from, event, g, h, _)| {
                *from == t.from && *event == t.event && *g == guard && *h == held
            });
            let what = if held { "held" } else { "did not hold" };
            match (taken, unreachable) {
                (true, None) => seen += 1,
                (true, Some(_)) => reached_anyway.push(format!("{} {what}", describe(t))),
                (false, None) => unseen.push(format!("{} {what}", describe(t))),
                (false, Some(_)) => {}
            }
            let mark = if taken { "seen" } else { "not seen" };
            line.push_str(&format!(" {what}: {mark};"));
        }
        println!("{line}");
    }
    println!("guard outcomes: {seen}/{total}");
    println!(
        "unreachable through the Endpoint API ({}):",
        UNREACHABLE_OUTCOMES.len()
    );
    for (from, event, guard, held, why) in UNREACHABLE_OUTCOMES {
        let what = if *held { "held" } else { "did not hold" };
        println!("  {from} {event} [{guard}] {what}: {why}");
    }
    assert!(
        reached_anyway.is_empty(),
        "outcomes listed as unreachable were seen: {reached_anyway:#?}"
    );
    assert!(unseen.is_empty(), "guard outcomes not seen: {unseen:#?}");
    assert_eq!(seen + UNREACHABLE_OUTCOMES.len(), total);
}

/// A named piece of the coverage run.
type Scenario = fn(&Run);

#[test]
fn every_pair_of_tcp_fsm_is_taken() {
    let run = Run::default();
    let scenarios: [(&str, Scenario); 23] = [
        ("ordinary exchange", ordinary_exchange),
        ("refused", refused),
        ("listener strays", listener_strays),
        ("passive open then send", passive_open_then_send),
        ("simultaneous open and close", simultaneous_open_and_close),
        ("reset in active SYN_RCVD", reset_in_active_syn_rcvd),
        ("close and abort in SYN_RCVD", close_and_abort_in_syn_rcvd),
        (
            "close in SYN_RCVD, then the ACK of the SYN",
            close_in_syn_rcvd_then_ack_of_syn,
        ),
        ("FIN+ACK from FIN_WAIT_1", fin_ack_from_fin_wait_1),
        ("peer closes first", peer_closes_first),
        ("bad ACK in SYN_SENT, abort", bad_ack_in_syn_sent_then_abort),
        (
            "send, close and time out in SYN_SENT",
            close_and_time_out_in_syn_sent,
        ),
        ("raw clients", raw_clients),
        (
            "blind segments in SYN_RCVD, abort",
            blind_segments_in_syn_rcvd_then_abort,
        ),
        (
            "blind segments in FIN_WAIT_1, reset",
            blind_segments_in_fin_wait_1_then_reset,
        ),
        (
            "FIN_WAIT_2: blind segments, abort, reset, linger",
            fin_wait_2_blind_abort_reset_linger,
        ),
        (
            "CLOSING: blind segments, reset, abort",
            closing_blind_reset_abort,
        ),
        ("TIME_WAIT: blind segments, abort", time_wait_blind_abort),
        (
            "CLOSE_WAIT: blind segments, reset, abort",
            close_wait_blind_reset_abort,
        ),
        (
            "LAST_ACK: FIN again, blind segments, abort",
            last_ack_fin_blind_abort,
        ),
        ("abort in LISTEN", abort_in_listen),
        ("user timeouts", user_timeouts),
        ("ordinary exchange again", ordinary_exchange),
    ];
    let start = Instant::now();
    for (name, scenario) in scenarios {
        let before = coverage(&run.seen).covered();
        let at = Instant::now();
        scenario(&run);
        println!(
            "{name}: {} new ({} ms)",
            coverage(&run.seen).covered() - before,
            at.elapsed().as_millis()
        );
        if let Some(e) = run.first_rejected() {
            panic!("the oracle rejects a step in \"{name}\": {e}");
        }
    }
    // Endpoints are gone: every step they recorded was checked.
    if let Some(e) = run.first_rejected() {
        panic!("the oracle rejects a step: {e}");
    }
    println!(
        "{} events raised, {:.1} s",
        run.steps.lock().unwrap().len(),
        start.elapsed().as_secs_f64()
    );
    check_pairs(&run);
    check_guard_outcomes(&run);
}

// Transitions where guards choose: the method takes the guards and returns
// an enum of the possible targets, with `Unchanged` only where the guards
// do not cover every case.
#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm");
}

include!("support/recorder.rs");

use tcp::{Guard, State, SynRcvdRcvRst, Tcp};

fn syn_rcvd() -> Tcp<tcp::SynRcvd, Recorder> {
    let mut m = Tcp::new(Recorder::default()).passive_open().rcv_syn();
    m.data.take();
    m
}

fn main() {
    // SYN_RCVD on RST: `[passive]` back to LISTEN, `[!passive]` to CLOSED;
    // the two cover every case, so there is no `Unchanged`.
    let passive = |g: Guard| g == Guard::Passive;
    match syn_rcvd().rcv_rst(&passive) {
        SynRcvdRcvRst::Listen(m) => assert_eq!(m.into_data().take(), ["forget_peer"]),
        SynRcvdRcvRst::Closed(_) => panic!("a passive connection listens again"),
    }
    let active = [false, false, false];
    let outcome = syn_rcvd().rcv_rst(&active);
    assert_eq!(outcome.state(), State::Closed);
    match outcome {
        SynRcvdRcvRst::Closed(m) => {
            assert_eq!(m.into_data().take(), ["flush", "report_refused", "delete_tcb"])
        }
        SynRcvdRcvRst::Listen(_) => panic!("an active connection is refused"),
    }

    // LISTEN on SEND: only `[peer_known]`, so the machine may stay put.
    let listen = Tcp::new(Recorder::default()).passive_open();
    let listen = match listen.send(&|_: Guard| false) {
        tcp::ListenSend::Unchanged(m) => m,
        tcp::ListenSend::SynSent(_) => panic!("no peer known"),
    };
    match listen.send(&|g: Guard| g == Guard::PeerKnown) {
        tcp::ListenSend::SynSent(m) => {
            assert_eq!(m.into_data().take(), ["create_tcb", "send_syn", "queue_data"])
        }
        tcp::ListenSend::Unchanged(_) => panic!("the peer is known"),
    }

    // FIN_WAIT_1 on FIN: `[fin_acked]` to TIME_WAIT, else CLOSING.
    let fin_wait_1 = || {
        let mut m = Tcp::new(Recorder::default()).active_open().rcv_syn_ack().close();
        m.data.take();
        m
    };
    let acked = fin_wait_1().rcv_fin(&|g: Guard| g == Guard::FinAcked);
    assert_eq!(acked.state(), State::TimeWait);
    let unacked = fin_wait_1().rcv_fin(&|_: Guard| false);
    assert_eq!(unacked.state(), State::Closing);

    // The dynamic API agrees, and says when no guard held.
    let step = tcp::step(State::SynRcvd, tcp::Event::RcvRst, &passive).unwrap();
    assert_eq!(step.to, State::Listen);
    assert_eq!(step.info().guard, Some("passive"));
    let none = tcp::step(State::Listen, tcp::Event::Send, &|_: Guard| false).unwrap_err();
    assert!(none.guarded);
    assert_eq!(none.to_string(), "no transition from LISTEN on `send` (no guard held)");
    let err = tcp::step(State::TimeWait, tcp::Event::Close, &passive).unwrap_err();
    assert_eq!(err.to_string(), "no transition from TIME_WAIT on `close`");
}

//! A fixture of the perf example: tcp.fsm through `fsm!`, and a little code
//! that uses both of its APIs. `../pasted` is the same file with the
//! expansion pasted in.

/// tcp.fsm, expanded by the macro.
#[allow(dead_code)]
pub mod tcp {
    fsm_macros::fsm!("../../../tcp.fsm");
}

use tcp::{Action, Closed, Event, FinWait1RcvAck, Guard, State, Tcp, TcpActions};

/// Counts what the actions did.
#[derive(Debug, Default)]
pub struct Count(pub u64);

impl TcpActions for Count {
    fn send_syn(&mut self) {
        self.0 += 1;
    }
    fn send_syn_ack(&mut self) {
        self.0 += 2;
    }
    fn send_ack(&mut self) {
        self.0 += 3;
    }
    fn send_fin(&mut self) {
        self.0 += 4;
    }
    fn reply_rst(&mut self) {
        self.0 += 5;
    }
    fn send_rst(&mut self) {
        self.0 += 6;
    }
    fn send_challenge_ack(&mut self) {
        self.0 += 7;
    }
    fn start_time_wait(&mut self) {
        self.0 += 8;
    }
    fn create_tcb(&mut self) {
        self.0 += 9;
    }
    fn delete_tcb(&mut self) {
        self.0 += 10;
    }
    fn init_rcv(&mut self) {
        self.0 += 11;
    }
    fn forget_peer(&mut self) {
        self.0 += 12;
    }
    fn queue_data(&mut self) {
        self.0 += 13;
    }
    fn flush(&mut self) {
        self.0 += 14;
    }
    fn report_reset(&mut self) {
        self.0 += 15;
    }
    fn report_refused(&mut self) {
        self.0 += 16;
    }
    fn report_timeout(&mut self) {
        self.0 += 17;
    }
}

/// The typical client path, through the typestate API.
pub fn client(m: Tcp<Closed, Count>) -> Tcp<Closed, Count> {
    let m = m.active_open().rcv_syn_ack().close();
    // The ACK of our FIN: `fin_acked` holds, so FIN_WAIT_2.
    let FinWait1RcvAck::FinWait2(m) = m.rcv_ack(&|g: Guard| g == Guard::FinAcked) else {
        unreachable!("fin_acked holds")
    };
    m.rcv_fin().time_wait_timeout()
}

/// The typical server path, through the typestate API.
pub fn server(m: Tcp<Closed, Count>) -> Tcp<Closed, Count> {
    m.passive_open()
        .rcv_syn()
        .rcv_ack()
        .rcv_fin()
        .close()
        .rcv_ack()
}

/// Events taken by the dynamic `step`, with guards from `bits`; the state
/// reached and the actions run.
pub fn walk(events: &[Event], bits: u8) -> (State, u64) {
    let holds = |g: Guard| bits >> g.index() & 1 == 1;
    let mut state = State::INITIAL;
    let mut actions = 0;
    for &e in events {
        if let Ok(s) = tcp::step(state, e, &holds) {
            state = s.to;
            actions += s.actions.iter().filter(|a| **a != Action::Flush).count() as u64;
        }
    }
    (state, actions)
}

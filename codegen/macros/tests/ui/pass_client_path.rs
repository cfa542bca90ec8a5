// The typical client path of tcp.fsm, steps 1-7, through the typestate API:
// CLOSED -active_open-> SYN_SENT -rcv_syn_ack-> ESTABLISHED -close->
// FIN_WAIT_1 -rcv_ack [fin_acked]-> FIN_WAIT_2 -rcv_fin-> TIME_WAIT -time_wait_timeout-> CLOSED
#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm");
}

include!("support/recorder.rs");

use tcp::{FinWait1RcvAck, Guard, Path, State, Tcp};

fn main() {
    let m = Tcp::new(Recorder::default());
    assert_eq!(m.state(), State::Closed);
    assert!(State::Closed.steps().iter().any(|s| s.path == Path::Client && s.step == 1));

    let m = m.active_open();
    assert_eq!(m.state(), State::SynSent);
    let m = m.rcv_syn_ack();
    assert_eq!(m.state(), State::Established);
    let m = m.close();
    assert_eq!(m.state(), State::FinWait1);
    // The ACK of our FIN: the guard `fin_acked` holds.
    let m = m.rcv_ack(&|g: Guard| g == Guard::FinAcked);
    assert_eq!(m.state(), State::FinWait2);
    let FinWait1RcvAck::FinWait2(m) = m else {
        unreachable!("fin_acked holds");
    };
    let m = m.rcv_fin();
    assert_eq!(m.state(), State::TimeWait);
    let m = m.time_wait_timeout();
    assert_eq!(m.state(), State::Closed);

    let actions = m.into_data().take();
    assert_eq!(
        actions,
        [
            "create_tcb", "send_syn", // active OPEN / SYN
            "init_rcv", "send_ack", // SYN+ACK / ACK
            "send_fin", // CLOSE / FIN
            // ACK / –
            "send_ack", "start_time_wait", // FIN / ACK
            "delete_tcb", // 2MSL timeout
        ]
    );

    // The same walk through the dynamic API, step by step, with the
    // transitions' path annotations.
    // Our FIN is acknowledged once the client has closed.
    let fin_acked = |g: tcp::Guard| g == tcp::Guard::FinAcked;
    let mut state = State::INITIAL;
    let mut all = Vec::new();
    for (n, event) in [
        tcp::Event::ActiveOpen,
        tcp::Event::RcvSynAck,
        tcp::Event::Close,
        tcp::Event::RcvAck,
        tcp::Event::RcvFin,
        tcp::Event::TimeWaitTimeout,
    ]
    .into_iter()
    .enumerate()
    {
        let step = tcp::step(state, event, &fin_acked).unwrap();
        let info = step.info();
        assert_eq!((info.from, info.event, info.to), (state, event, step.to));
        assert!(
            info.steps.iter().any(|s| s.path == Path::Client && usize::from(s.step) == n + 2),
            "{info:?} is client step {}",
            n + 2
        );
        all.extend(step.actions.iter().map(|a| a.name()));
        state = step.to;
    }
    assert_eq!(state, State::Closed);
    assert_eq!(all, actions);
}

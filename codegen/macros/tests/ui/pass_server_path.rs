// The typical server path of tcp.fsm, steps 1-7, through the typestate API:
// CLOSED -passive_open-> LISTEN -rcv_syn-> SYN_RCVD -rcv_ack-> ESTABLISHED
// -rcv_fin-> CLOSE_WAIT -close-> LAST_ACK -rcv_ack-> CLOSED
#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm");
}

include!("support/recorder.rs");

use tcp::{State, Tcp};

fn main() {
    let m: Tcp<tcp::Closed, Recorder> = Tcp::new(Recorder::default());
    let m: Tcp<tcp::Listen, Recorder> = m.passive_open();
    let m: Tcp<tcp::SynRcvd, Recorder> = m.rcv_syn();
    let m: Tcp<tcp::Established, Recorder> = m.rcv_ack();
    let m: Tcp<tcp::CloseWait, Recorder> = m.rcv_fin();
    let m: Tcp<tcp::LastAck, Recorder> = m.close();
    let mut m: Tcp<tcp::Closed, Recorder> = m.rcv_ack();
    assert_eq!(m.state(), State::Closed);
    assert_eq!(
        m.data.take(),
        [
            "create_tcb", // passive OPEN
            "init_rcv", "send_syn_ack", // SYN / SYN+ACK
            // ACK / –
            "send_ack", // FIN / ACK
            "send_fin", // CLOSE / FIN
            "delete_tcb", // ACK
        ]
    );
    // Self-loops keep the type.
    let m = m.rcv_segment();
    assert_eq!(m.into_data().take(), ["reply_rst"]);
    let m = Tcp::new(Recorder::default()).passive_open();
    assert_eq!(format!("{m:?}"), r#"Tcp { state: Listen, data: Recorder(["create_tcb"]) }"#);
}

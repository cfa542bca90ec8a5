// tcp.fsm has no CLOSE in TIME_WAIT: the method does not exist.
#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm");
}

include!("support/recorder.rs");

fn main() {
    let m = tcp::Tcp::new(Recorder::default());
    let m = m.active_open().rcv_syn_ack().close();
    let tcp::FinWait1RcvAck::FinWait2(m) = m.rcv_ack(&|g: tcp::Guard| g == tcp::Guard::FinAcked) else {
        return;
    };
    let _closed = m.rcv_fin().close();
}

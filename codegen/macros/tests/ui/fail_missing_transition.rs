// tcp.fsm has no CLOSE in TIME_WAIT: the method does not exist.
#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm");
}

include!("support/recorder.rs");

fn main() {
    let m = tcp::Tcp::new(Recorder::default());
    let m = m.active_open().rcv_syn_ack().close().rcv_ack().rcv_fin();
    let _closed = m.close();
}

// Shared by the ui programs (`include!`d after `mod tcp { fsm!(...) }`):
// machine data that records the actions the machine runs, in order.

#[derive(Debug, Default)]
struct Recorder(Vec<&'static str>);

impl Recorder {
    /// The actions recorded since the last call.
    fn take(&mut self) -> Vec<&'static str> {
        std::mem::take(&mut self.0)
    }
}

macro_rules! record {
    ($($action:ident),* $(,)?) => {
        impl tcp::TcpActions for Recorder {
            $(fn $action(&mut self) { self.0.push(stringify!($action)); })*
        }
    };
}

record!(
    send_syn, send_syn_ack, send_ack, send_fin, reply_rst, send_rst, send_challenge_ack,
    start_time_wait, create_tcb, delete_tcb, init_rcv, forget_peer, queue_data, flush,
    report_reset, report_refused, report_timeout,
);

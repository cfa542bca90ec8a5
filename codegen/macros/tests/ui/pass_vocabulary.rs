// tcp.fsm bound to a runtime's vocabulary: conversions both ways, `None`
// for a vocabulary event the spec does not use, and the spec's groups that
// the vocabulary reads.
#[allow(dead_code)]
mod vocab {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Event {
        PassiveOpen, ActiveOpen, Send, Close, Abort, RcvSyn, RcvSynAck, RcvAck, RcvFin, RcvRst,
        RcvRstInWindow, RcvBadAck, RcvUnacceptable, RcvSegment, TimeWaitTimeout, UserTimeout, LingerTimeout,
        RcvUrgent,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Guard { Passive, FinAcked, PeerKnown }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Action {
        SendSyn, SendSynAck, SendAck, SendFin, ReplyRst, SendRst, SendChallengeAck,
        StartTimeWait, CreateTcb, DeleteTcb, InitRcv, ForgetPeer, QueueData, Flush, ReportReset,
        ReportRefused, ReportTimeout,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Group { Synchronized }
}

#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../../../tcp.fsm", vocabulary = crate::vocab {
        events: [
            passive_open, active_open, send, close, abort, rcv_syn, rcv_syn_ack, rcv_ack,
            rcv_fin, rcv_rst, rcv_rst_in_window, rcv_bad_ack, rcv_unacceptable, rcv_segment,
            time_wait_timeout, user_timeout, linger_timeout, rcv_urgent,
        ],
        guards: [passive, fin_acked, peer_known],
        actions: [
            send_syn, send_syn_ack, send_ack, send_fin, reply_rst, send_rst, send_challenge_ack,
            start_time_wait, create_tcb, delete_tcb, init_rcv, forget_peer, queue_data, flush,
            report_reset, report_refused, report_timeout,
        ],
        groups: [synchronized],
    });
}

fn main() {
    const SYN: Option<tcp::Event> = tcp::Event::from_vocabulary(vocab::Event::RcvSyn);
    assert_eq!(SYN, Some(tcp::Event::RcvSyn));
    assert_eq!(tcp::Event::from_vocabulary(vocab::Event::RcvUrgent), None);
    for e in tcp::Event::ALL {
        assert_eq!(tcp::Event::from_vocabulary(e.to_vocabulary()), Some(e));
    }
    assert_eq!(tcp::Guard::FinAcked.to_vocabulary(), vocab::Guard::FinAcked);
    assert_eq!(tcp::Action::SendSynAck.to_vocabulary(), vocab::Action::SendSynAck);
    const { assert!(tcp::State::Established.in_vocabulary_group(vocab::Group::Synchronized)) };
    assert!(!tcp::State::Listen.in_vocabulary_group(vocab::Group::Synchronized));
    assert!(tcp::State::CloseWait.in_synchronized());
}

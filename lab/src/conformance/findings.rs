//! What decides a difference: for the pairs where implementations are
//! known to part from tcp.fsm, the RFC 9293 text tcp.fsm follows there.

use super::Pair;
use super::matrix::Class;

/// RFC 9293 3.10.7.4, "Second, check the RST bit" (the RFC 5961 rules).
const RST_IN_WINDOW: &str = "RFC 9293 3.10.7.4 (RFC 5961 3.2): \"If the RST bit is set and the \
sequence number does not exactly match the next expected sequence value, yet is within the \
current receive window, TCP endpoints MUST send an acknowledgment (challenge ACK): \
<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. After sending the challenge ACK, TCP endpoints MUST drop \
the unacceptable segment and stop processing the incoming packet further.\" An implementation \
without the RFC 5961 mitigation (RFC 793's rule: any RST in the window resets) resets instead.";

/// RFC 9293 3.10.7.4, "Fourth, check the SYN bit".
const SYN_SYNCHRONIZED: &str = "RFC 9293 3.10.7.4 (RFC 5961 4.2), fourth, check the SYN bit, in \
the synchronized states: \"If the SYN bit is set, irrespective of the sequence number, TCP \
endpoints MUST send a 'challenge ACK' to the remote peer: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>. \
After sending the acknowledgment, TCP implementations MUST drop the unacceptable segment and \
stop processing further.\"";

/// RFC 9293 3.10.2, SEND in SYN-SENT and SYN-RECEIVED.
const SEND_EARLY: &str = "RFC 9293 3.10.2, SEND call, SYN-SENT STATE and SYN-RECEIVED STATE: \
\"Queue the data for transmission after entering ESTABLISHED state. If no space to queue, \
respond with 'error: insufficient resources'.\"";

/// RFC 9293 3.10.4, CLOSE in SYN-SENT.
const CLOSE_SYN_SENT: &str = "RFC 9293 3.10.4, CLOSE call, SYN-SENT STATE: \"Delete the TCB and \
return 'error: closing' responses to any queued SENDs, or RECEIVEs.\" No segment is sent.";

/// RFC 9293 3.10.4, CLOSE in SYN-RECEIVED.
const CLOSE_SYN_RCVD: &str = "RFC 9293 3.10.4, CLOSE call, SYN-RECEIVED STATE: \"If no SENDs have \
been issued and there is no pending data to send, then form a FIN segment and send it, and enter \
FIN-WAIT-1 state; otherwise, queue for processing after entering ESTABLISHED state.\"";

/// RFC 9293 3.10.7.4, the ACK in FIN-WAIT-1.
const FIN_WAIT_1_ACK: &str = "RFC 9293 3.10.7.4, fifth, check the ACK field, FIN-WAIT-1 STATE: \
\"In addition to the processing for the ESTABLISHED state, if the FIN segment is now \
acknowledged, then enter FIN-WAIT-2 and continue processing in that state.\" An ACK of the SYN \
alone does not acknowledge a FIN, least of all one not yet sent; a FIN that does not acknowledge \
ours leads to CLOSING (\"if our FIN has been ACKed ... enter the TIME-WAIT state ... otherwise, \
enter the CLOSING state\", eighth, check the FIN bit).";

/// RFC 9293 3.10.5, ABORT.
const ABORT_QUIET: &str = "RFC 9293 3.10.5, ABORT call: in SYN-SENT \"All queued SENDs and \
RECEIVEs should be given 'reset' responses, delete the TCB, enter CLOSED state, and return\"; \
in CLOSING, LAST-ACK and TIME-WAIT \"Respond with 'ok' and delete the TCB, enter CLOSED state, \
and return.\" Only SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 and CLOSE-WAIT send \
<SEQ=SND.NXT><CTL=RST>.";

/// RFC 9293 3.10.8, timeouts.
const TIMEOUTS: &str = "RFC 9293 3.10.8, USER TIMEOUT: \"For any state if the user timeout \
expires, flush all queues, signal the user 'error: connection aborted due to user timeout' in \
general and for any outstanding calls, delete the TCB, enter the CLOSED state, and return.\" \
TIME-WAIT TIMEOUT: \"If the time-wait timeout expires on a connection, delete the TCB, enter the \
CLOSED state, and return.\" Neither sends a segment.";

/// RFC 9293 3.10.7.2 and 3.10.7.4, the ACK of something never sent.
const BAD_ACK: &str = "RFC 9293 3.10.7.4, SYN-RECEIVED STATE, fifth, check the ACK field: \"If \
the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST> and \
send it.\"";

/// The class of a difference on `pair` (the RFC 9293 text tcp.fsm
/// follows there), if tcp.fsm's rule there is one implementations are
/// known to part from.
pub fn class(pair: &Pair) -> Option<Class> {
    let (from, event) = (pair.from.as_str(), pair.event.as_str());
    Some(match event {
        "rcv_rst_in_window" => ("RST in the window but not at RCV.NXT", RST_IN_WINDOW),
        "rcv_syn" if from != "LISTEN" && from != "SYN_SENT" => {
            ("SYN in a synchronized state", SYN_SYNCHRONIZED)
        }
        "send" if from == "SYN_SENT" || from == "SYN_RCVD" => {
            ("SEND before the connection is open", SEND_EARLY)
        }
        "close" if from == "SYN_SENT" => ("CLOSE in SYN_SENT", CLOSE_SYN_SENT),
        "close" if from == "SYN_RCVD" => ("CLOSE in SYN_RCVD", CLOSE_SYN_RCVD),
        "rcv_ack" | "rcv_fin" if from == "FIN_WAIT_1" => {
            ("What acknowledges a FIN in FIN_WAIT_1", FIN_WAIT_1_ACK)
        }
        "abort" => ("ABORT: where an RST goes out", ABORT_QUIET),
        "user_timeout" | "time_wait_timeout" | "linger_timeout" => {
            ("Timeouts send nothing", TIMEOUTS)
        }
        "rcv_bad_ack" => ("An ACK of something never sent", BAD_ACK),
        _ => return None,
    })
}

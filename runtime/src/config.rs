//! Tunables of the TCP runtime. Defaults follow the RFCs; tests and demos on
//! loopback shorten the timers.

use std::time::Duration;

use crate::cc::Congestion;
use crate::recovery::Recovery;

/// Configuration shared by every connection of an endpoint.
#[derive(Clone, Debug)]
pub struct Config {
    /// Maximum segment size we announce and send (payload bytes per segment).
    /// 1460 fits an Ethernet MTU, so the same datagrams can cross a TUN
    /// device.
    pub mss: u16,
    /// Maximum segment lifetime; TIME_WAIT lasts twice this (RFC 9293
    /// MUST-13). The RFC takes two minutes.
    pub msl: Duration,
    /// RTO before any RTT sample (RFC 6298: 1 s). After a SYN or SYN-ACK
    /// had to be retransmitted, the RTO for data starts again from three
    /// times this (RFC 6298 5.7: 3 s for the RFC's 1 s), unless an RTT
    /// sample came since.
    pub initial_rto: Duration,
    /// Smallest RTO (RFC 6298: 1 s; loopback wants far less).
    pub min_rto: Duration,
    /// Largest RTO after back-off (RFC 6298: at least 60 s).
    pub max_rto: Duration,
    /// Data unacknowledged this long aborts the connection with the
    /// `user_timeout` event (RFC 9293 3.10.8; five minutes by default).
    pub user_timeout: Duration,
    /// How long a connection whose FIN is acknowledged waits for the
    /// peer's FIN before the `linger_timeout` event (beyond the RFC, like
    /// Linux's `tcp_fin_timeout`; raised only where the spec has a
    /// transition for it). Five minutes by default.
    pub linger: Duration,
    /// Receive buffer per connection, bytes; the advertised window.
    pub recv_buffer: usize,
    /// Send buffer per connection, bytes.
    pub send_buffer: usize,
    /// Offer window scaling (RFC 7323) so windows can exceed 64 KiB.
    pub window_scaling: bool,
    /// Offer and accept SACK (RFC 2018). When both SYNs carry
    /// SACK-permitted, each ACK sent while data is held out of order
    /// carries SACK blocks, the one holding the latest segment first, and
    /// a segment received twice is reported once in a D-SACK block (RFC
    /// 2883). The peer's blocks go on the sender's scoreboard, which the
    /// recovery machine reads ([`crate::recovery`]).
    pub sack: bool,
    /// Challenge ACKs sent per second per connection at most (RFC 5961 7).
    pub challenge_ack_limit: u32,
    /// Keep each connection's transition trace (a few entries per
    /// connection; turn off for many long-lived connections).
    pub keep_trace: bool,
    /// Record every event raised, with its guard values and outcome (a
    /// [`StepRecord`](crate::trace::StepRecord) per event, refused ones
    /// included), for oracles that hold a run against its spec.
    pub record_steps: bool,
    /// Half-open connections a listener keeps; past this the oldest is
    /// dropped for each new SYN, so a SYN flood holds bounded memory.
    pub syn_backlog: usize,
    /// Retransmissions of one segment before giving up with
    /// `user_timeout`, whatever the time (a bound for every sending loop).
    pub max_retransmissions: u32,
    /// The congestion machine each connection runs beside its connection
    /// machine: NewReno (`congestion.fsm`) by default.
    pub congestion: Congestion,
    /// The recovery machine each connection runs beside the other two:
    /// RACK-TLP with SACK and PRR (`recovery.fsm`) by default;
    /// [`Recovery::new_reno`] for fast retransmit and NewReno's partial
    /// ACKs without SACK.
    pub recovery: Recovery,
    /// The initial congestion window in segments; `None` takes RFC 6928's
    /// (min(10 * SMSS, max(2 * SMSS, 14600 bytes))).
    pub initial_window: Option<u32>,
    /// How long an acknowledgment may wait for a second full-sized segment
    /// or for data to ride on (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2: at most
    /// 500 ms; 200 ms by default). Zero acknowledges every segment at once.
    /// Out-of-order data, and data that fills a hole, is acknowledged at
    /// once whatever this says.
    pub ack_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mss: 1460,
            msl: Duration::from_secs(120),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_secs(1),
            max_rto: Duration::from_secs(60),
            user_timeout: Duration::from_secs(300),
            linger: Duration::from_secs(300),
            recv_buffer: 256 * 1024,
            send_buffer: 256 * 1024,
            window_scaling: true,
            sack: true,
            challenge_ack_limit: 100,
            keep_trace: true,
            record_steps: false,
            syn_backlog: 256,
            max_retransmissions: 15,
            congestion: Congestion::default(),
            recovery: Recovery::default(),
            initial_window: None,
            ack_delay: Duration::from_millis(200),
        }
    }
}

impl Config {
    /// Short timers for loopback tests and demos: RTO from 20 ms, MSL of
    /// `msl`, user timeout and linger 10 s, acknowledgments delayed at most
    /// 10 ms (well below the smallest RTO).
    pub fn loopback(msl: Duration) -> Self {
        Config {
            msl,
            initial_rto: Duration::from_millis(200),
            min_rto: Duration::from_millis(20),
            max_rto: Duration::from_secs(2),
            user_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(10),
            ack_delay: Duration::from_millis(10),
            ..Config::default()
        }
    }

    /// The RTO that data starts from after a retransmitted SYN or SYN-ACK
    /// (RFC 6298 5.7: 3 s, scaled like the initial RTO).
    pub fn rto_after_syn_loss(&self) -> Duration {
        self.initial_rto * 3
    }

    /// How long TIME_WAIT lasts.
    pub fn time_wait(&self) -> Duration {
        self.msl * 2
    }

    /// The window scale shift we offer: the smallest that lets the receive
    /// buffer be advertised whole.
    pub fn window_shift(&self) -> u8 {
        if !self.window_scaling {
            return 0;
        }
        let mut shift = 0u8;
        while shift < 14 && (self.recv_buffer >> shift) > usize::from(u16::MAX) {
            shift += 1;
        }
        shift
    }
}

//! Fingerprints of the sans-IO state, for exhaustive exploration.
//!
//! An explorer (`fsm-lab explore`) visits every state two hosts can reach
//! and must know when it meets one again. [`Host::fingerprint`] feeds a
//! hasher with everything that decides what a host does next: every
//! connection's machine state, TCB, queues and buffered bytes, the
//! listeners, the ports and the segments waiting to go out. Times enter
//! *relative to now* (a retransmission due in 200 ms is the same whether
//! now is 1 s or 5 s), so two hosts that differ only by when things
//! happened have one fingerprint.
//!
//! Left out, because nothing the host does depends on them: counters,
//! records and traces not yet drained, the timer heap (a cache of the
//! connections' own deadlines, which are in), and which transition was
//! traced last (it only keeps repeated self-loops out of the trace).
//! One thing depends on absolute time and is left out on purpose: the ISN
//! clock (RFC 6528), which only new connections read (how far
//! [`IsnGenerator::advance`] moved it ahead is in).
//!
//! [`IsnGenerator::advance`]: crate::isn::IsnGenerator::advance
//!
//! Each type's fingerprint destructures the type, so that a field added
//! later does not compile until it is placed in or out of the fingerprint.
//!
//! [`Host::fingerprint`]: crate::host::Host::fingerprint

use std::hash::Hasher;
use std::time::Instant;

/// Feeds `t` relative to `now`: signed nanoseconds (a deadline already
/// passed is negative).
pub(crate) fn time<H: Hasher>(h: &mut H, now: Instant, t: Instant) {
    let nanos = if t >= now {
        (t - now).as_nanos() as i128
    } else {
        -((now - t).as_nanos() as i128)
    };
    h.write_i128(nanos);
}

/// Feeds an optional time relative to `now`.
pub(crate) fn opt_time<H: Hasher>(h: &mut H, now: Instant, t: Option<Instant>) {
    match t {
        None => h.write_u8(0),
        Some(t) => {
            h.write_u8(1);
            time(h, now, t);
        }
    }
}

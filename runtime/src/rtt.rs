//! The retransmission timeout of RFC 6298: SRTT and RTTVAR from RTT
//! samples, RTO = SRTT + max(G, 4*RTTVAR) bounded below and above, doubled
//! on each expiry.

use std::time::Duration;

/// RTT estimator and current RTO.
#[derive(Clone, Debug, Hash)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
    backoff: u32,
}

/// Clock granularity G; this runtime's clock is finer than a millisecond.
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    /// A fresh estimator: RTO = `initial` until the first sample (2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
            backoff: 0,
        }
    }

    /// Takes an RTT measurement (from a segment not retransmitted, Karn's
    /// rule being the caller's business) and recomputes the RTO (2.2, 2.3).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        self.backoff = 0;
        self.rto = self.base();
    }

    fn base(&self) -> Duration {
        let srtt = self.srtt.unwrap_or(self.rto);
        (srtt + (self.rttvar * 4).max(GRANULARITY)).clamp(self.min, self.max)
    }

    /// The timer expired: double the RTO (5.5), up to the maximum.
    pub fn back_off(&mut self) {
        self.backoff += 1;
        self.rto = (self.rto * 2).min(self.max);
    }

    /// Starts over from `rto` with no back-off, keeping no sample (RFC
    /// 6298 5.7, after a retransmitted SYN).
    pub fn restart(&mut self, rto: Duration) {
        self.backoff = 0;
        self.rto = rto.clamp(self.min, self.max);
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed RTT, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Expiries since the last sample.
    #[cfg(test)]
    pub fn backoffs(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_rttvar() {
        let mut r = RttEstimator::new(ms(1000), ms(1), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.sample(ms(100));
        assert_eq!(r.srtt(), Some(ms(100)));
        // RTO = 100 + 4 * 50
        assert_eq!(r.rto(), ms(300));
    }

    #[test]
    fn later_samples_smooth() {
        let mut r = RttEstimator::new(ms(1000), ms(1), ms(60_000));
        r.sample(ms(100));
        r.sample(ms(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 87.5 + 25 = 112.5
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn back_off_doubles_up_to_the_maximum_and_a_sample_resets() {
        let mut r = RttEstimator::new(ms(1000), ms(1000), ms(3000));
        r.back_off();
        assert_eq!(r.rto(), ms(2000));
        r.back_off();
        assert_eq!(r.rto(), ms(3000));
        assert_eq!(r.backoffs(), 2);
        r.sample(ms(10));
        assert_eq!(r.rto(), ms(1000), "bounded below by the minimum");
        assert_eq!(r.backoffs(), 0);
    }
}

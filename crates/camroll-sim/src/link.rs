//! The simulated USB link's timing: `--rate` and `--latency-ms`, applied
//! exactly. tokio's timer works in whole milliseconds, rounded up, so a
//! 0.5 ms latency became 1 ms and every throttled read lost up to 1 ms; and a
//! reader that asks for the next chunk only after the last one arrived lost
//! the time that chunk spent crossing the socket. Hand-written: no crate
//! models a shared link this way (governor & co. count whole requests).

use std::time::{Duration, Instant};

/// Idle time the link may make up for, in bytes at its rate: the reply that
/// just left still crosses the socket and the client asks again; on a real
/// link those bytes would have been flowing. 1 MiB bounds how far a client
/// that has been idle may run ahead of the rate (0.7 % of a 150 MiB movie).
pub(crate) const IDLE_CREDIT_BYTES: u64 = 1 << 20;

/// When the shared link is next free, for `--rate` (a token bucket kept as
/// a deadline).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkClock {
    next_free: Instant,
}

/// How long `n` bytes take at `bytes_per_sec`, to the nanosecond.
pub(crate) fn cost(n: u64, bytes_per_sec: u64) -> Duration {
    let nanos = (n as u128 * 1_000_000_000).div_ceil(bytes_per_sec.max(1) as u128);
    Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
}

impl LinkClock {
    /// A link idle since `now`.
    pub(crate) fn new(now: Instant) -> LinkClock {
        LinkClock { next_free: now }
    }

    /// Books `n` bytes asked for at `now` on a link of `bytes_per_sec`;
    /// returns when they have crossed it. Back to back, n bytes take exactly
    /// n / rate; idle time counts up to [`IDLE_CREDIT_BYTES`].
    pub(crate) fn book(&mut self, now: Instant, n: u64, bytes_per_sec: u64) -> Instant {
        let credit = cost(IDLE_CREDIT_BYTES, bytes_per_sec);
        let earliest = now.checked_sub(credit).unwrap_or(now);
        let start = self.next_free.max(earliest);
        self.next_free = start + cost(n, bytes_per_sec);
        self.next_free
    }
}

/// `--rate` in MB/s as bytes per second: 35 means 35,000,000 B/s.
pub(crate) fn bytes_per_sec(mbps: f64) -> u64 {
    (mbps * 1e6).round().max(1.0) as u64
}

/// Sleeps until `deadline` to within tens of microseconds: tokio's timer for
/// all but the last 2 ms, then a blocking-pool thread's `nanosleep` (high
/// resolution, and it does not hold up the runtime's workers).
pub(crate) async fn sleep_until(deadline: Instant) {
    if let Some(coarse) = deadline.checked_sub(Duration::from_millis(2)) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse.into()).await;
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_35_is_35_000_000_bytes_a_second() {
        assert_eq!(bytes_per_sec(35.0), 35_000_000);
        assert_eq!(cost(35_000_000, 35_000_000), Duration::from_secs(1));
        assert_eq!(cost(35, 35_000_000), Duration::from_micros(1));
    }

    #[test]
    fn back_to_back_reads_take_exactly_bytes_over_rate() {
        let t0 = Instant::now();
        let mut link = LinkClock::new(t0);
        let rate = bytes_per_sec(35.0);
        let mut now = t0;
        // 35 reads of 4 MiB, each asked for the moment the previous one arrived.
        for _ in 0..35 {
            now = link.book(now, 4 << 20, rate);
        }
        // Exact, but for rounding each read up to the next nanosecond.
        let exact = cost(35 * (4 << 20), rate);
        assert!(now - t0 >= exact && now - t0 <= exact + Duration::from_nanos(35));
    }

    #[test]
    fn a_reader_slower_to_ask_again_than_the_credit_still_gets_the_full_rate() {
        let t0 = Instant::now();
        let mut link = LinkClock::new(t0);
        let rate = bytes_per_sec(35.0);
        // Each reply takes 10 ms to cross the socket and be asked again after:
        // less than the credit (1 MiB = 30 ms at 35 MB/s), so nothing is lost.
        let turnaround = Duration::from_millis(10);
        let mut arrived = t0;
        for _ in 0..100 {
            arrived = link.book(arrived + turnaround, 4 << 20, rate) + turnaround;
        }
        let exact = cost(100 * (4 << 20), rate) + turnaround;
        // The last reply arrived after the link's exact time plus one
        // turnaround (and each read's rounding to the nanosecond).
        assert!(arrived - t0 >= exact && arrived - t0 <= exact + Duration::from_nanos(100));
    }

    #[test]
    fn idle_time_beyond_the_credit_is_not_made_up() {
        let t0 = Instant::now();
        let mut link = LinkClock::new(t0);
        let rate = bytes_per_sec(35.0);
        let later = t0 + Duration::from_secs(60);
        // After a minute idle, at most IDLE_CREDIT_BYTES go out at once.
        let done = link.book(later, IDLE_CREDIT_BYTES, rate);
        assert_eq!(done, later);
        let next = link.book(later, 35_000, rate);
        assert_eq!(next, later + Duration::from_millis(1));
    }

    #[test]
    fn many_small_requests_add_up_without_rounding_loss() {
        let t0 = Instant::now();
        let mut link = LinkClock::new(t0);
        let mut now = t0;
        for _ in 0..1_000_000 {
            now = link.book(now, 35, 35_000_000);
        }
        assert_eq!(now - t0, Duration::from_secs(1));
    }
}

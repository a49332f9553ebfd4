//! The compact wire form of [`DomainFigures`]: postcard (varints), the histogram sparse —
//! only its non-empty buckets, as `(index, count)` in increasing index order. At most
//! [`MAX_ENCODED`] bytes, so a report fits one protocol message (`tileos_protocol`'s
//! `MAX_PAYLOAD`, 952 bytes; a test checks it).
//!
//! Decoding checks everything a hostile reporter could get wrong: bucket indices beyond
//! the last bucket, repeated or unordered indices, empty buckets listed, a total above
//! `u64::MAX`, trailing bytes, and anything postcard itself refuses.

use crate::figures::DomainFigures;
use crate::histogram::{BUCKETS, Histogram};
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// Largest encoding: three counters and 64 buckets, each at most 1 + 10 bytes, plus the
/// bucket list's length.
pub const MAX_ENCODED: usize = 3 * 10 + 1 + BUCKETS * 11;

/// One non-empty bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Bucket {
    index: u8,
    count: u64,
}

/// What travels.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    faults: u64,
    restarts: u64,
    cpu_ticks: u64,
    buckets: Vec<Bucket, BUCKETS>,
}

/// Why bytes are not a valid report: the telemetry protocol's own reasons
/// (`tileos_protocol::telemetry::WireFault`), so that a refusal names them as they are:
/// `Malformed` (postcard could not decode the bytes — truncated, a varint too long, more
/// than 64 buckets — or the output buffer was too small when encoding), `TrailingBytes`,
/// `BucketOutOfRange`, `BucketsUnordered`, `EmptyBucket`, `CountOverflow`.
pub use tileos_protocol::telemetry::WireFault as WireError;

/// Encodes `figures` into `out`; returns the bytes written (at most [`MAX_ENCODED`]).
pub fn encode<'a>(figures: &DomainFigures, out: &'a mut [u8]) -> Result<&'a mut [u8], WireError> {
    let mut buckets = Vec::new();
    for (index, &count) in figures.latency.counts().iter().enumerate() {
        if count != 0 {
            // Cannot fail: there are exactly BUCKETS buckets.
            let _ = buckets.push(Bucket { index: index as u8, count });
        }
    }
    let wire = Wire { faults: figures.faults, restarts: figures.restarts, cpu_ticks: figures.cpu_ticks, buckets };
    postcard::to_slice(&wire, out).map_err(|_| WireError::Malformed)
}

/// Decodes and checks a report.
pub fn decode(bytes: &[u8]) -> Result<DomainFigures, WireError> {
    let (wire, rest): (Wire, &[u8]) = postcard::take_from_bytes(bytes).map_err(|_| WireError::Malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    let mut counts = [0u64; BUCKETS];
    let mut next = 0usize;
    let mut total = 0u64;
    for bucket in &wire.buckets {
        let index = usize::from(bucket.index);
        if index >= BUCKETS {
            return Err(WireError::BucketOutOfRange(bucket.index));
        }
        if index < next {
            return Err(WireError::BucketsUnordered(bucket.index));
        }
        if bucket.count == 0 {
            return Err(WireError::EmptyBucket(bucket.index));
        }
        total = total.checked_add(bucket.count).ok_or(WireError::CountOverflow)?;
        counts[index] = bucket.count;
        next = index + 1;
    }
    Ok(DomainFigures { faults: wire.faults, restarts: wire.restarts, cpu_ticks: wire.cpu_ticks, latency: Histogram::from_counts(counts) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DomainFigures {
        let mut latency = Histogram::EMPTY;
        [0u64, 1, 471, 471, 500, 9_000, 1 << 40].iter().for_each(|&v| latency.record(v));
        DomainFigures { faults: 2, restarts: 1, cpu_ticks: 12_345, latency }
    }

    /// Encodes a hand-made wire value (for the hostile cases `encode` never writes).
    fn raw(buckets: &[(u8, u64)]) -> std::vec::Vec<u8> {
        let wire =
            Wire { faults: 0, restarts: 0, cpu_ticks: 0, buckets: buckets.iter().map(|&(index, count)| Bucket { index, count }).collect() };
        let mut buffer = [0u8; 2048];
        postcard::to_slice(&wire, &mut buffer).unwrap().to_vec()
    }

    #[test]
    fn figures_survive_the_round_trip() {
        let figures = sample();
        let mut buffer = [0u8; MAX_ENCODED];
        let bytes = encode(&figures, &mut buffer).unwrap();
        assert!(bytes.len() < 40, "sparse: {} bytes", bytes.len());
        assert_eq!(decode(bytes), Ok(figures));
        let empty = DomainFigures::default();
        assert_eq!(decode(encode(&empty, &mut buffer).unwrap()), Ok(empty));
    }

    #[test]
    fn the_largest_report_fits_its_bound_and_one_message() {
        let full = DomainFigures {
            faults: u64::MAX,
            restarts: u64::MAX,
            cpu_ticks: u64::MAX,
            latency: Histogram::from_counts([u64::MAX / BUCKETS as u64; BUCKETS]),
        };
        let mut buffer = [0u8; MAX_ENCODED];
        let bytes = encode(&full, &mut buffer).unwrap();
        assert!(bytes.len() <= MAX_ENCODED && MAX_ENCODED <= tileos_protocol::MAX_PAYLOAD);
        assert_eq!(decode(bytes), Ok(full));
        let mut small = [0u8; 20];
        assert_eq!(encode(&full, &mut small), Err(WireError::Malformed));
    }

    #[test]
    fn hostile_reports_get_precise_errors() {
        let mut buffer = [0u8; MAX_ENCODED];
        let good = encode(&sample(), &mut buffer).unwrap().to_vec();
        for cut in 0..good.len() {
            assert_eq!(decode(&good[..cut]), Err(WireError::Malformed), "truncated at {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(decode(&long), Err(WireError::TrailingBytes));
        assert_eq!(decode(&raw(&[(64, 1)])), Err(WireError::BucketOutOfRange(64)));
        assert_eq!(decode(&raw(&[(255, 1)])), Err(WireError::BucketOutOfRange(255)));
        assert_eq!(decode(&raw(&[(3, 1), (3, 1)])), Err(WireError::BucketsUnordered(3)));
        assert_eq!(decode(&raw(&[(9, 1), (2, 1)])), Err(WireError::BucketsUnordered(2)));
        assert_eq!(decode(&raw(&[(4, 0)])), Err(WireError::EmptyBucket(4)));
        assert_eq!(decode(&raw(&[(1, u64::MAX), (2, 1)])), Err(WireError::CountOverflow));
        // A bucket list longer than there are buckets: postcard's length prefix says 65.
        let mut oversized = std::vec![0u8, 0, 0, 65];
        (0..65u8).for_each(|i| oversized.extend_from_slice(&[i, 1]));
        assert_eq!(decode(&oversized), Err(WireError::Malformed));
        // A length prefix promising far more bytes than are there.
        assert_eq!(decode(&[0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(WireError::Malformed));
    }
}

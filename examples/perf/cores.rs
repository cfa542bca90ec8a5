//! Section 7: several cores. Each endpoint has one I/O thread; more cores
//! take more endpoints. Two independent endpoint pairs (client and server
//! endpoints, each with its I/O thread) run side by side and their
//! aggregate is held against one pair's, for the connection rate (64 in
//! parallel) and for bulk transfer. BENCHMARKS.md reads the figures and
//! sketches the design for 16 cores and more.

use crate::Plan;
use crate::bulk;
use crate::conns;
use crate::table::{Table, median, num};

/// Runs `f` on `n` threads at once; answers their results.
fn at_once<T: Send>(n: usize, f: &(dyn Fn() -> T + Sync)) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|_| s.spawn(f)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect()
    })
}

/// The sum of what runs side by side did, and the time the slowest took.
fn aggregate(runs: Vec<std::io::Result<(f64, f64)>>) -> std::io::Result<(f64, f64)> {
    let mut total = (0.0, 0.0f64);
    for r in runs {
        let (amount, secs) = r?;
        total = (total.0 + amount, total.1.max(secs));
    }
    Ok(total)
}

pub fn run(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let (mut rate, mut bulk_mb) = ([vec![], vec![]], [vec![], vec![]]);
    for _ in 0..plan.rounds {
        for (k, pairs) in [1usize, 2].into_iter().enumerate() {
            // The same total work, split over the pairs.
            let total = plan.par_conns / pairs;
            let (done, secs) = aggregate(at_once(pairs, &|| {
                conns::ours_rate(conns::PARALLEL / pairs, total, plan.conn_limit)
                    .map(|r| (r.done as f64, r.secs))
            }))?;
            rate[k].push(done / secs);
            let bytes = plan.bulk_bytes / pairs;
            let (got, secs) = aggregate(at_once(pairs, &|| {
                bulk::ours(bytes, plan.bulk_limit, None).map(|x| (x.bytes as f64, x.secs))
            }))?;
            bulk_mb[k].push(got / secs / 1e6);
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (k, pairs) in [1, 2].into_iter().enumerate() {
        let ratio = if k == 0 {
            String::new()
        } else {
            format!("{:.2}× of 1 pair", median(&rate[1]) / median(&rate[0]))
        };
        table.row(
            "7 cores",
            &format!("connection rate, 64 in parallel, {pairs} endpoint pair(s)"),
            &num(median(&rate[k])),
            "conn/s",
            plan.rounds,
            &ratio,
            &format!(
                "{} I/O threads on {cores} cores; the same connections split over the pairs",
                2 * pairs
            ),
        );
    }
    for (k, pairs) in [1, 2].into_iter().enumerate() {
        let ratio = if k == 0 {
            String::new()
        } else {
            format!(
                "{:.2}× of 1 pair",
                median(&bulk_mb[1]) / median(&bulk_mb[0])
            )
        };
        table.row(
            "7 cores",
            &format!("bulk, {pairs} transfer(s) on their own endpoint pairs, aggregate"),
            &num(median(&bulk_mb[k])),
            "MB/s",
            plan.rounds,
            &ratio,
            &format!(
                "{} MiB in all, split over the pairs; {cores} cores",
                plan.bulk_bytes >> 20
            ),
        );
    }
    Ok(())
}

//! Closed-loop load: N clients, each sending its next request when the last
//! one returned, for a fixed time; latencies in an HDR histogram.

use std::future::Future;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub struct Stats {
    pub clients: usize,
    pub completed: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

impl Stats {
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.50) as f64 / 1_000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency_us.value_at_quantile(0.99) as f64 / 1_000.0
    }

    /// Several runs of one workload as one: counts and times add up.
    pub fn merge(runs: Vec<Stats>) -> anyhow::Result<Stats> {
        let mut runs = runs.into_iter();
        let mut total = runs
            .next()
            .ok_or_else(|| anyhow::anyhow!("no runs to merge"))?;
        for run in runs {
            total.completed += run.completed;
            total.errors += run.errors;
            total.elapsed += run.elapsed;
            total.latency_us.add(&run.latency_us)?;
        }
        Ok(total)
    }
}

/// Runs `clients` loops for `duration`. `setup(i)` makes client i's state;
/// `call(state, n)` sends request n and says whether it succeeded.
pub async fn run<S, Setup, SetupFut, Call, CallFut>(
    clients: usize,
    duration: Duration,
    setup: Setup,
    call: Call,
) -> anyhow::Result<Stats>
where
    S: Send + 'static,
    Setup: Fn(usize) -> SetupFut,
    SetupFut: Future<Output = anyhow::Result<S>>,
    Call: Fn(&mut S, u64) -> CallFut + Send + Sync + Clone + 'static,
    CallFut: Future<Output = bool> + Send,
{
    let mut states = Vec::with_capacity(clients);
    for index in 0..clients {
        states.push(setup(index).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for (index, mut state) in states.into_iter().enumerate() {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut completed, mut errors) = (0u64, 0u64);
            let mut n = index as u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                if call(&mut state, n).await {
                    completed += 1;
                    let _ = histogram.record(sent.elapsed().as_micros().max(1) as u64);
                } else {
                    errors += 1;
                }
                n += clients as u64;
            }
            (histogram, completed, errors)
        }));
    }
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut completed, mut errors) = (0, 0);
    for task in tasks {
        let (histogram, done, failed) = task.await?;
        latency_us.add(&histogram)?;
        completed += done;
        errors += failed;
    }
    Ok(Stats {
        clients,
        completed,
        errors,
        elapsed: started.elapsed(),
        latency_us,
    })
}

//! Counting calls and the CPU they cost, in slices interleaved so that drift in the machine's
//! speed (frequency, neighbours on the host) touches every kind of work alike.

use std::time::{Duration, Instant};

use crate::machine::cpu_time;

/// How many operations ran back to back, and for how long.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rate {
    pub n: u64,
    pub secs: f64,
}

impl Rate {
    pub fn per_s(&self) -> f64 {
        self.n as f64 / self.secs
    }
}

/// Runs `op` back to back for `window`.
pub fn run_for(window: Duration, mut op: impl FnMut()) -> Rate {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < window {
        op();
        n += 1;
    }
    Rate {
        n,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// One kind of work over all its slices, with the CPU it cost the client (this process less
/// the server's threads) and the server.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub rate: Rate,
    pub client_cpu: Duration,
    pub server_cpu: Duration,
}

impl Tally {
    pub fn per_s(&self) -> f64 {
        self.rate.per_s()
    }

    /// Wall time per operation, in microseconds.
    pub fn us(&self) -> f64 {
        1e6 / self.per_s()
    }

    pub fn client_us(&self) -> f64 {
        self.client_cpu.as_secs_f64() * 1e6 / self.rate.n as f64
    }

    pub fn server_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.rate.n as f64
    }

    /// Measures one run of `work` and adds it in.
    pub fn add(&mut self, server_cpu: &dyn Fn() -> Duration, work: &dyn Fn() -> Rate) {
        let (process, server) = (cpu_time(), server_cpu());
        let rate = work();
        let server = server_cpu().saturating_sub(server);
        self.rate.n += rate.n;
        self.rate.secs += rate.secs;
        self.client_cpu += cpu_time().saturating_sub(process).saturating_sub(server);
        self.server_cpu += server;
    }
}

/// Runs every item of `works` for `window / rounds` in turn, `rounds` times over.
pub fn interleave(
    window: Duration,
    rounds: u32,
    server_cpu: &dyn Fn() -> Duration,
    works: &[&dyn Fn(Duration) -> Rate],
) -> Vec<Tally> {
    let slice = window / rounds;
    let mut tallies = vec![Tally::default(); works.len()];
    for _ in 0..rounds {
        for (tally, work) in tallies.iter_mut().zip(works) {
            tally.add(server_cpu, &|| work(slice));
        }
    }
    tallies
}

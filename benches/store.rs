//! Cost of applying one poll's batch to the state store with a 24 h window
//! (1,440 minutes × 8 endpoints), against the naive way of getting the same
//! percentiles: merging every minute's histogram of the window on each poll.
//!
//! `cargo bench --bench store`

use std::hint::black_box;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use jfmon::hist::WindowHist;
use jfmon::model::*;
use jfmon::store::State;
use jfmon::store::Thresholds;

const MINUTES: i64 = 1440;
const ENDPOINTS: usize = 8;
const PER_MINUTE: usize = 300;

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn latency(&mut self) -> i32 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (200.0 * (0.9 * z).exp()) as i32
    }
}

fn key(i: usize) -> EndpointKey {
    EndpointKey {
        endpoint: format!("/api/endpoint/{i}"),
        method: "GET".into(),
    }
}

fn minute(rng: &mut Rng) -> ApiMinute {
    let mut m = ApiMinute::default();
    for _ in 0..PER_MINUTE {
        m.requests += 1;
        *m.status.entry(200).or_default() += 1;
        m.latency.record(rng.latency() as i64);
    }
    m
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(42);
    let start_minute = 29_000_000;
    let now = DateTime::from_timestamp((start_minute + MINUTES - 1) * 60 + 30, 0).unwrap();
    let mut batch = Batch {
        reset: true,
        now,
        window_secs: (MINUTES * 60) as u64,
        ..Default::default()
    };
    for m in 0..MINUTES {
        for e in 0..ENDPOINTS {
            batch.api.push((start_minute + m, key(e), minute(&mut rng)));
        }
    }
    let minutes: Vec<(usize, ApiMinute)> = batch
        .api
        .iter()
        .map(|(_, k, d)| (k.endpoint.len(), d.clone()))
        .collect();
    let mut state = State::new((MINUTES * 60) as u64, Thresholds::default());
    state.apply(Update::Batch(Box::new(batch)));

    // One poll's worth: ~2 s of traffic at 1,000 req/s spread over endpoints.
    let delta = Batch {
        now,
        window_secs: (MINUTES * 60) as u64,
        api: (0..ENDPOINTS)
            .map(|e| {
                let mut m = ApiMinute::default();
                for _ in 0..250 {
                    m.requests += 1;
                    m.latency.record(rng.latency() as i64);
                }
                (start_minute + MINUTES - 1, key(e), m)
            })
            .collect(),
        ..Default::default()
    };

    let mut g = c.benchmark_group("poll_apply_24h_window");
    g.bench_function("jfmon_store_apply", |b| {
        b.iter(|| {
            state.apply(Update::Batch(Box::new(delta.clone())));
            black_box(state.endpoints()[0].p99_ms)
        })
    });
    g.bench_function("naive_merge_all_minutes", |b| {
        b.iter(|| {
            // Per endpoint: merge the window's minutes, then read percentiles.
            let mut out = Vec::new();
            for e in 0..ENDPOINTS {
                let mut h = WindowHist::default();
                for (_, m) in minutes.iter().skip(e).step_by(ENDPOINTS) {
                    h.add(&m.latency);
                }
                out.push((h.quantile(0.5), h.quantile(0.95), h.quantile(0.99)));
            }
            black_box(out)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);

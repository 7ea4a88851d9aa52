//! Prometheus metrics: requests by route pattern and status, a latency histogram, database
//! pool usage and how listing pages were served.

use std::time::Duration;

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};

use crate::catalog::cache::{ListingCache, Served};
use crate::db::replicas::Reads;
use crate::db::DbPool;

/// Prometheus metrics: requests by route pattern and status, a latency histogram, pool usage.
pub fn build(
    pool: &DbPool,
    reads: &Reads,
    cache: &ListingCache,
) -> anyhow::Result<PrometheusMetrics> {
    let registry = prometheus::Registry::new();
    let sampled = Sampled::register(&registry)?;
    let metrics = PrometheusMetricsBuilder::new("internal_store")
        .endpoint("/metrics")
        .registry(registry)
        .mask_unmatched_patterns("UNMATCHED")
        .buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .build()
        .map_err(|e| anyhow::anyhow!("building metrics: {e}"))?;
    let pool = pool.clone();
    let cache = cache.clone();
    let reads = reads.clone();
    // Sampling once a second keeps the scrape path free of work and is plenty for a gauge.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            sampled.sample(&pool, &cache, &reads);
        }
    });
    Ok(metrics)
}

/// The figures read from the pools and the listing cache once a second.
struct Sampled {
    pool: prometheus::IntGaugeVec,
    pages: prometheus::IntCounterVec,
    connected: prometheus::IntGauge,
    served: prometheus::IntCounterVec,
    passed_over: prometheus::IntCounterVec,
    usable: prometheus::IntGaugeVec,
}

/// A counter per value of `label`, registered.
fn counters(
    registry: &prometheus::Registry,
    (name, help): (&str, &str),
    label: &str,
) -> anyhow::Result<prometheus::IntCounterVec> {
    let counters = prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), &[label])?;
    registry.register(Box::new(counters.clone()))?;
    Ok(counters)
}

/// A gauge per value of `label`, registered.
fn gauges(
    registry: &prometheus::Registry,
    (name, help): (&str, &str),
    label: &str,
) -> anyhow::Result<prometheus::IntGaugeVec> {
    let gauges = prometheus::IntGaugeVec::new(prometheus::Opts::new(name, help), &[label])?;
    registry.register(Box::new(gauges.clone()))?;
    Ok(gauges)
}

impl Sampled {
    fn register(registry: &prometheus::Registry) -> anyhow::Result<Self> {
        let connected = prometheus::IntGauge::new(
            "internal_store_listing_cache_connected",
            "1 while the listing cache's listener is subscribed, else 0",
        )?;
        registry.register(Box::new(connected.clone()))?;
        Ok(Self {
            pool: gauges(
                registry,
                (
                    "internal_store_db_pool_connections",
                    "Database pool connections by state",
                ),
                "state",
            )?,
            pages: counters(
                registry,
                (
                    "internal_store_listing_pages_total",
                    "Catalog listing pages by how they were served: hit, miss (built and cached), \
                     bypass",
                ),
                "outcome",
            )?,
            connected,
            served: counters(
                registry,
                (
                    "internal_store_db_reads_total",
                    "Listing and report reads by the pool that served them: primary, replica-1, …",
                ),
                "pool",
            )?,
            passed_over: counters(
                registry,
                (
                    "internal_store_db_replica_passed_over_total",
                    "Reads that went to the primary while a replica was down, too far behind or \
                     failing",
                ),
                "pool",
            )?,
            usable: gauges(
                registry,
                (
                    "internal_store_db_replica_usable",
                    "1 while a replica answers within READ_MAX_LAG, else 0",
                ),
                "pool",
            )?,
        })
    }

    fn sample(&self, pool: &DbPool, cache: &ListingCache, reads: &Reads) {
        let status = pool.status();
        for (state, value) in [
            ("max", status.max_size),
            ("open", status.size),
            ("idle", status.available),
            ("in_use", status.size.saturating_sub(status.available)),
            ("waiting", status.waiting),
        ] {
            self.pool.with_label_values(&[state]).set(gauge(value));
        }
        for how in Served::ALL {
            let counter = self.pages.with_label_values(&[how.label()]);
            counter.inc_by(cache.served(how).saturating_sub(counter.get()));
        }
        self.connected.set(i64::from(cache.is_connected()));
        for figures in reads.figures() {
            let label = [figures.label.as_str()];
            let counter = self.served.with_label_values(&label);
            counter.inc_by(figures.served.saturating_sub(counter.get()));
            let counter = self.passed_over.with_label_values(&label);
            counter.inc_by(figures.passed_over.saturating_sub(counter.get()));
            if figures.label != crate::db::replicas::PRIMARY {
                self.usable
                    .with_label_values(&label)
                    .set(i64::from(figures.usable));
            }
        }
    }
}

/// A pool figure as a gauge value.
fn gauge(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

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
    let pool_gauge = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "internal_store_db_pool_connections",
            "Database pool connections by state",
        ),
        &["state"],
    )?;
    registry.register(Box::new(pool_gauge.clone()))?;
    let pages = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "internal_store_listing_pages_total",
            "Catalog listing pages by how they were served: hit, miss (built and cached), bypass",
        ),
        &["outcome"],
    )?;
    registry.register(Box::new(pages.clone()))?;
    let connected = prometheus::IntGauge::new(
        "internal_store_listing_cache_connected",
        "1 while the listing cache's listener is subscribed, else 0",
    )?;
    registry.register(Box::new(connected.clone()))?;
    let served = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "internal_store_db_reads_total",
            "Listing and report reads by the pool that served them: primary, replica-1, …",
        ),
        &["pool"],
    )?;
    registry.register(Box::new(served.clone()))?;
    let passed_over = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "internal_store_db_replica_passed_over_total",
            "Reads that went to the primary while a replica was down, too far behind or failing",
        ),
        &["pool"],
    )?;
    registry.register(Box::new(passed_over.clone()))?;
    let usable = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "internal_store_db_replica_usable",
            "1 while a replica answers within READ_MAX_LAG, else 0",
        ),
        &["pool"],
    )?;
    registry.register(Box::new(usable.clone()))?;
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
            let status = pool.status();
            pool_gauge
                .with_label_values(&["max"])
                .set(gauge(status.max_size));
            pool_gauge
                .with_label_values(&["open"])
                .set(gauge(status.size));
            pool_gauge
                .with_label_values(&["idle"])
                .set(gauge(status.available));
            pool_gauge
                .with_label_values(&["in_use"])
                .set(gauge(status.size.saturating_sub(status.available)));
            pool_gauge
                .with_label_values(&["waiting"])
                .set(gauge(status.waiting));
            for how in Served::ALL {
                let counter = pages.with_label_values(&[how.label()]);
                counter.inc_by(cache.served(how).saturating_sub(counter.get()));
            }
            connected.set(i64::from(cache.is_connected()));
            for figures in reads.figures() {
                let label = [figures.label.as_str()];
                let counter = served.with_label_values(&label);
                counter.inc_by(figures.served.saturating_sub(counter.get()));
                let counter = passed_over.with_label_values(&label);
                counter.inc_by(figures.passed_over.saturating_sub(counter.get()));
                if figures.label != crate::db::replicas::PRIMARY {
                    usable
                        .with_label_values(&label)
                        .set(i64::from(figures.usable));
                }
            }
        }
    });
    Ok(metrics)
}

/// A pool figure as a gauge value.
fn gauge(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

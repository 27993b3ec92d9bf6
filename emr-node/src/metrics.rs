//! `GET /metrics`: the node's figures in the Prometheus text format
//! (OpenMetrics), written by the Prometheus project's own Rust client.
//! Counters live for the node's life; gauges are read at each scrape.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::node::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub(crate) endpoint: String,
    pub(crate) code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    message: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// The node's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) errors: Family<RequestLabels, Counter>,
    pub(crate) suspensions: Counter,
    pub(crate) synced_blocks: Counter,
    pub(crate) mined_blocks: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        Metrics::default()
    }

    /// Counts one answered request; 4xx and 5xx also as errors.
    pub(crate) fn answered(&self, endpoint: &str, status: u16) {
        let labels = RequestLabels { endpoint: endpoint.to_owned(), code: status.to_string() };
        self.requests.get_or_create(&labels).inc();
        if status >= 400 {
            self.errors.get_or_create(&labels).inc();
        }
    }
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g: Gauge = Gauge::default();
    g.set(value);
    registry.register(name, help, g);
}

/// The scrape's text.
pub(crate) fn render(shared: &Shared) -> Result<String, String> {
    let status = shared.status().map_err(|e| e.to_string())?;
    let number = |key: &str| status.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0);
    let mut registry = Registry::with_prefix("emr");
    gauge(&mut registry, "height", "Blocks in the active chain", number("height"));
    let work: Gauge<f64, std::sync::atomic::AtomicU64> = Gauge::default();
    work.set(status.get("work").and_then(|w| w.as_str()).and_then(|w| w.parse::<f64>().ok()).unwrap_or(0.0));
    registry.register("work", "Total difficulty of the active chain (as a float)", work);
    gauge(&mut registry, "pending", "Records in the pool", number("pending"));
    gauge(&mut registry, "pending_entries", "Entries in the pool", number("pending_entries"));
    gauge(&mut registry, "conflicts", "Records and entries dropped by a reorganization, not yet dismissed", number("conflicts"));
    gauge(&mut registry, "sync_lag_blocks", "How many blocks the highest peer is ahead", number("sync_lag"));
    let peers: Family<StateLabels, Gauge> = Family::default();
    for state in ["unknown", "up", "down", "suspended", "incompatible"] {
        peers.get_or_create(&StateLabels { state: state.into() }).set(0);
    }
    for peer in status.get("peers").and_then(serde_json::Value::as_array).into_iter().flatten() {
        let state = peer.get("state").and_then(serde_json::Value::as_str).unwrap_or("unknown");
        peers.get_or_create(&StateLabels { state: state.into() }).inc();
    }
    registry.register("peers", "Configured peers by state", peers);
    let (writable, failing, errors) = shared.storage();
    gauge(&mut registry, "storage_writable", "1 while the chain's disk takes writes, 0 after a write failed with an io error (disk full, failing) until one succeeds", i64::from(writable));
    let write_errors: Counter = Counter::default();
    write_errors.inc_by(errors);
    registry.register("storage_write_errors", "Writes to the chain that failed with an io error", write_errors);
    if let Some((why, ago)) = failing {
        let last: Family<ErrorLabels, Gauge> = Family::default();
        last.get_or_create(&ErrorLabels { message: why }).set(i64::try_from(ago).unwrap_or(i64::MAX));
        registry.register(
            "storage_error_age_seconds",
            "Seconds since the last write failed with this io error (present only while the disk refuses writes)",
            last,
        );
    }
    registry.register("requests", "Requests answered, by endpoint and HTTP status", shared.metrics.requests.clone());
    registry.register("request_errors", "Requests answered with a 4xx or 5xx status", shared.metrics.errors.clone());
    registry.register("suspensions", "Peers suspended for breaking the protocol", shared.metrics.suspensions.clone());
    registry.register("synced_blocks", "Blocks received by syncing from peers", shared.metrics.synced_blocks.clone());
    registry.register("mined_blocks", "Blocks this node mined", shared.metrics.mined_blocks.clone());
    let mut out = String::new();
    encode(&mut out, &registry).map_err(|e| e.to_string())?;
    Ok(out)
}

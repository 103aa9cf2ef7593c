//! Prometheus text exposition of request counts and latencies, kept by hand: a handful of
//! counters does not justify a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency_buckets: [u64; BUCKETS.len()],
    latency_count: u64,
    latency_sum: f64,
    logins: BTreeMap<&'static str, u64>,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut m = self.inner.lock().expect("no panics while the lock is held");
        *m.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                m.latency_buckets[i] += 1;
            }
        }
        m.latency_count += 1;
        m.latency_sum += secs;
    }

    pub fn observe_login(&self, outcome: &'static str) {
        *self.inner.lock().expect("no panics while the lock is held").logins.entry(outcome).or_default() += 1;
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().expect("no panics while the lock is held");
        let mut out = String::new();
        out.push_str("# HELP kezek_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE kezek_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(out, "kezek_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP kezek_http_request_duration_seconds Time to answer a request.\n");
        out.push_str("# TYPE kezek_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "kezek_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}", m.latency_buckets[i]);
        }
        let _ = writeln!(out, "kezek_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", m.latency_count);
        let _ = writeln!(out, "kezek_http_request_duration_seconds_sum {}", m.latency_sum);
        let _ = writeln!(out, "kezek_http_request_duration_seconds_count {}", m.latency_count);
        out.push_str("# HELP kezek_logins_total Login attempts by outcome.\n# TYPE kezek_logins_total counter\n");
        for (outcome, n) in &m.logins {
            let _ = writeln!(out, "kezek_logins_total{{outcome=\"{outcome}\"}} {n}");
        }
        out
    }
}

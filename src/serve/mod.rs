//! `sluice serve`: a live web dashboard of run directories, and their metrics for Prometheus.
//!
//! The server reads the run directories on each request (a running run rewrites
//! `status.json` every `--status-every` and appends its events), so it serves runs in any
//! process, running or finished, and a run it cannot read (missing, a corrupt `status.json`)
//! shows its error on its own page while the others are served.
//!
//! | file | what |
//! |---|---|
//! | `live.rs` | [`RunView`]: a run directory read while the run may write it; [`Cache`]: what was read of each event file, so a request parses only the lines appended since |
//! | `page.rs` | the HTML: the index, a run's page (which polls its fragment), the fragment |
//! | `metrics.rs` | `/metrics` in Prometheus text format |
//!
//! Routes: `/` (the runs), `/run/<i>` (run `i`'s page), `/run/<i>/variant/<name>` (one
//! variant of a sweep), `/run/<i>/live[?variant=<name>]` (the fragment and counts, JSON),
//! `/metrics`. [`Routes::Metrics`] serves `/metrics` only (`sluice run --metrics-addr`).

mod live;
mod metrics;
mod page;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

pub use live::{Cache, RunView, read as read_run, read_status};

use crate::sink::unix_ms;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken or cannot be bound.
    #[error("cannot listen on {addr}: {source}{hint}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
        /// A hint for the common case.
        hint: &'static str,
    },
    /// The server's runtime could not start.
    #[error("starting the web server: {0}")]
    Runtime(#[from] std::io::Error),
}

/// What a server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routes {
    /// The dashboard and `/metrics`.
    All,
    /// `/metrics` only.
    Metrics,
}

/// The runs served, and what the server remembers between requests.
struct Dashboard {
    runs: Vec<PathBuf>,
    /// The runs' events read so far.
    cache: live::Cache,
    /// Per (run, variant): what the pages saw of its ingestion.
    rates: Mutex<HashMap<(usize, usize), Rate>>,
}

/// The last status seen of a variant (written at, Unix ms; samples), and its samples/s
/// between that status and the one before.
type Rate = (u64, u64, Option<f64>);

impl Dashboard {
    /// Run `i`'s samples/s per variant: between the last two statuses the server saw.
    fn rates(&self, i: usize, run: &RunView) -> Vec<Option<f64>> {
        let mut rates = self.rates.lock().expect("rates poisoned");
        let updated = run.status.as_ref().map_or(0, |s| s.updated_ms);
        (run.variants.iter().enumerate())
            .map(|(v, variant)| {
                let samples = variant.lane.as_ref().map_or(0, |l| l.samples);
                let seen = rates.entry((i, v)).or_insert((updated, samples, None));
                if updated > seen.0 {
                    let dt = (updated - seen.0) as f64 / 1000.0;
                    *seen = (
                        updated,
                        samples,
                        Some(samples.saturating_sub(seen.1) as f64 / dt),
                    );
                }
                seen.2
            })
            .collect()
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Listens on `addr` and serves `runs` on a thread of its own. A taken address is an
    /// error now, not later.
    pub fn start(addr: &str, runs: Vec<PathBuf>, routes: Routes) -> Result<Self, ServeError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            hint: if source.kind() == std::io::ErrorKind::AddrInUse {
                " (another process listens there: pick another port with --addr)"
            } else {
                ""
            },
            source,
        })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let dashboard = Arc::new(Dashboard {
            runs,
            cache: live::Cache::default(),
            rates: Mutex::default(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("sluice-serve".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    axum::serve(listener, router(dashboard, routes)).await
                })
            })?;
        Ok(Self { addr, thread })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends (or the server fails).
    pub fn wait(self) -> std::io::Result<()> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the web server panicked")))
    }
}

fn router(dashboard: Arc<Dashboard>, routes: Routes) -> Router {
    let router = Router::new().route("/metrics", get(metrics_text));
    let router = match routes {
        Routes::Metrics => router,
        Routes::All => router
            .route("/", get(index))
            .route("/run/{i}", get(run_page))
            .route("/run/{i}/variant/{name}", get(variant_page))
            .route("/run/{i}/live", get(run_live)),
    };
    router.with_state(dashboard)
}

async fn index(State(d): State<Arc<Dashboard>>) -> Html<String> {
    let runs: Vec<RunView> = d.runs.iter().map(|r| d.cache.read(r)).collect();
    Html(page::index(&runs))
}

/// Run `i`'s directory, or a 404 naming the runs served.
fn run_dir(d: &Dashboard, i: usize) -> Result<&PathBuf, Response> {
    d.runs.get(i).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!(
                "no run {i}: this server serves runs 0 to {}",
                d.runs.len().saturating_sub(1)
            ),
        )
            .into_response()
    })
}

/// Run `i`'s page, or one `variant`'s of it.
fn shell(d: &Dashboard, i: usize, variant: Option<&str>) -> Response {
    match run_dir(d, i) {
        Ok(dir) => Html(page::shell(i, &live::run_name(dir), variant)).into_response(),
        Err(r) => r,
    }
}

async fn run_page(State(d): State<Arc<Dashboard>>, UrlPath(i): UrlPath<usize>) -> Response {
    shell(&d, i, None)
}

/// `/run/<i>/variant/<name>`: the page of one variant of a sweep.
async fn variant_page(
    State(d): State<Arc<Dashboard>>,
    UrlPath((i, variant)): UrlPath<(usize, String)>,
) -> Response {
    shell(&d, i, Some(&variant))
}

/// How long `/run/<i>/live?since=<version>` waits for the run to change.
const LONG_POLL: Duration = Duration::from_secs(20);

/// What a page asks of a run: `?since=` (the [`version`] it was sent last) and `?variant=`
/// (one variant of a sweep only).
#[derive(serde::Deserialize)]
struct Since {
    since: Option<String>,
    variant: Option<String>,
}

/// A run directory's version: the length and modification time of the files the page
/// shows, a sweep's variants' included. It changes whenever the run writes its status or an
/// event.
fn version(dir: &Path) -> String {
    let stamp = |f: &Path| match std::fs::metadata(f) {
        Ok(m) => {
            let at = (m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_micros());
            format!("{}.{at}", m.len())
        }
        Err(_) => "-".into(),
    };
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(variants) = std::fs::read_dir(dir.join("variants")) {
        let mut found: Vec<PathBuf> = variants.flatten().map(|e| e.path()).collect();
        found.sort();
        dirs.extend(found);
    }
    let mut stamps = vec![
        stamp(&dir.join("status.json")),
        stamp(&dir.join("dead-letter.jsonl")),
    ];
    for d in &dirs {
        stamps.extend(crate::report::EVENT_FILES.map(|f| stamp(&d.join(f))));
    }
    stamps.join(":")
}

/// Run `i` now, as JSON: its fragment and counts, and its version. With `?since=<version>`,
/// answers once the run differs from it (or after [`LONG_POLL`]): the page sees each change
/// as it happens, without polling an unchanged run.
async fn run_live(
    State(d): State<Arc<Dashboard>>,
    UrlPath(i): UrlPath<usize>,
    Query(q): Query<Since>,
) -> Response {
    let dir = match run_dir(&d, i) {
        Ok(dir) => dir,
        Err(r) => return r,
    };
    if let Some(since) = q.since {
        let until = Instant::now() + LONG_POLL;
        while version(dir) == since && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Before reading: a change while reading shows at the next request.
    let version = version(dir);
    let mut run = d.cache.read(dir);
    let mut rates = d.rates(i, &run);
    if let Some(name) = &q.variant {
        if !run.variants.iter().any(|v| v.name.as_ref() == Some(name)) {
            let names: Vec<&str> = (run.variants.iter())
                .filter_map(|v| v.name.as_deref())
                .collect();
            return (
                StatusCode::NOT_FOUND,
                format!("run {i} has no variant `{name}`; its variants: {names:?}"),
            )
                .into_response();
        }
        (run.variants, rates) = (run.variants.into_iter().zip(rates))
            .filter(|(v, _)| v.name.as_ref() == Some(name))
            .unzip();
    }
    let body = serde_json::json!({
        "html": page::fragment(i, &run, unix_ms(), &rates),
        "triggers": run.triggers(),
        "model": run.variants.iter().find_map(|v| v.lane.as_ref()?.model.clone()),
        "dead": run.dead_letters,
        "state": run.status.as_ref().map_or("unreadable", |s| s.state.as_str()),
        "version": version,
    });
    axum::Json(body).into_response()
}

async fn metrics_text(State(d): State<Arc<Dashboard>>) -> Response {
    let runs: Vec<RunView> = d.runs.iter().map(|r| d.cache.read(r)).collect();
    match metrics::render(&runs, unix_ms()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

//! `sluice serve`'s read of a run directory, as a days-long online run makes it.
//!
//! The quickstart run (8 triggers), its events repeated to `<copies>` times as many (default
//! 1,000: 8,000 triggers, 80,000 evaluations, 146,000 metric and status lines) plus 200,000
//! dead letters. Per round: a fresh read of the whole directory (what each request did before
//! the server kept what it read; the baseline) against a cached read after the run appended
//! what it writes between two statuses (a status line and a trigger). Medians, and the ratio.
//!
//! `cargo bench --bench serve [-- <copies>]`

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sluice::serve::{Cache, Routes, Server, read_run};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("event file opens");
    f.write_all(text.as_bytes())
        .expect("event file takes lines");
}

/// `GET path` from `addr`; the response's length.
fn get(addr: std::net::SocketAddr, path: &str) -> usize {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("server listens");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("response read");
    assert!(
        body.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    body.len()
}

fn main() {
    let copies: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "configs/quickstart.toml", "--quiet", "--out"])
        .arg(&run)
        .output()
        .expect("sluice runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for file in [
        "triggers.jsonl",
        "models.jsonl",
        "metrics.jsonl",
        "evaluations.jsonl",
    ] {
        let text = std::fs::read_to_string(run.join(file)).expect("the run wrote its events");
        std::fs::write(run.join(file), text.repeat(copies)).expect("events written");
    }
    let dead: String = (0..200_000)
        .map(|i| {
            format!(
                "{{\"pipeline\":\"quickstart\",\"id\":\"dead-letter-quickstart/0/{i}\",\
                 \"kind\":\"dead_letter\",\"source\":\"quickstart/0/{i}\",\"reason\":\"invalid \
                 JSON: EOF while parsing an object at line 1 column 22\",\"input\":\"{{\\\"key\\\": \
                 \\\"not a sample\\\"\"}}\n"
            )
        })
        .collect();
    std::fs::write(run.join("dead-letter.jsonl"), dead).expect("dead letters written");
    let bytes: u64 = std::fs::read_dir(&run)
        .expect("run dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    let status = std::fs::read_to_string(run.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .find(|l| l.contains("\"kind\":\"status\""))
        .expect("a status line")
        .to_string();
    let trigger = std::fs::read_to_string(run.join("triggers.jsonl"))
        .expect("triggers")
        .lines()
        .last()
        .expect("a trigger")
        .to_string();

    let cache = Cache::default();
    let warm = cache.read(&run);
    let triggers = warm.variants[0]
        .data
        .as_ref()
        .expect("readable")
        .triggers
        .len();
    drop(warm);
    let (mut fresh, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let view = read_run(&run);
        fresh.push(start.elapsed().as_secs_f64());
        assert!(view.variants[0].data.is_ok());
        for _ in 0..4 {
            append(&run.join("metrics.jsonl"), &format!("{status}\n"));
            append(&run.join("triggers.jsonl"), &format!("{trigger}\n"));
            let start = Instant::now();
            let view = cache.read(&run);
            cached.push(start.elapsed().as_secs_f64());
            assert!(view.variants[0].data.is_ok());
        }
    }
    let after = cache.read(&run).variants[0]
        .data
        .as_ref()
        .expect("readable")
        .triggers
        .len();
    assert_eq!(after, triggers + 20, "every appended trigger read once");
    assert_eq!(
        after,
        read_run(&run).variants[0]
            .data
            .as_ref()
            .expect("readable")
            .triggers
            .len()
    );
    // The whole request of a page's poll: read, then draw the fragment (its charts of every
    // trigger and evaluation) and send it.
    let server = Server::start("127.0.0.1:0", vec![run.clone()], Routes::All).expect("server");
    get(server.addr(), "/run/0/live");
    let mut requests = Vec::new();
    for _ in 0..5 {
        append(&run.join("metrics.jsonl"), &format!("{status}\n"));
        let start = Instant::now();
        get(server.addr(), "/run/0/live");
        requests.push(start.elapsed().as_secs_f64());
    }
    let (f, c) = (median(fresh), median(cached));
    println!(
        "serve: a run directory of {:.1} MB of events ({triggers} triggers, 200000 dead letters): \
         a fresh read {:.1} ms, a cached read after a status and a trigger were appended {:.2} ms; \
         ratio {:.4} (baseline: the fresh read); a page's whole poll request (read, draw, send) \
         {:.0} ms",
        bytes as f64 / 1e6,
        f * 1e3,
        c * 1e3,
        c / f,
        median(requests) * 1e3
    );
}

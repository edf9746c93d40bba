//! `sluice serve` and `sluice run --serve` end to end: a live page of a running Kafka pipeline
//! in headless Chromium, `/metrics` scraped during the run and parsed by Prometheus's own
//! Python client, and run directories the server cannot read.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// `GET path` from `addr`: the status code and the body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    try_get(addr, path).unwrap_or_else(|| panic!("nothing listens on {addr}"))
}

/// [`http_get`]; `None` if nothing listens there.
fn try_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    // A server that ends with its run may close a connection it took.
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Starts `sluice <args>` and waits for the line of `stream` ("stdout"/"stderr") that says
/// where it serves (`http://<addr>/`); returns the process, the address, and the rest of
/// that stream's lines as they come.
fn spawn_serving(args: &[&str], stream: &str) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let pipe: Box<dyn Read + Send> = if stream == "stdout" {
        Box::new(child.stdout.take().unwrap())
    } else {
        Box::new(child.stderr.take().unwrap())
    };
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            break None;
        };
        if let Some(at) = line.split("http://").nth(1) {
            break Some(at.split('/').next().unwrap().to_string());
        }
    };
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("sluice {args:?} never said where it serves");
    };
    (child, addr, rx)
}

/// Each scrape's samples, parsed by `prometheus_client`'s text parser: per scrape, a map of
/// `name{labels}` to value. `None` (skipped loudly) without the venv's prometheus_client.
fn parse_scrapes(scrapes: &[String]) -> Option<Vec<BTreeMap<String, f64>>> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let works = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present_or_skip("Prometheus's text parser", works, "scripts/setup.sh") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = (scrapes.iter().enumerate())
        .map(|(i, s)| {
            let f = dir.path().join(format!("{i}.txt"));
            std::fs::write(&f, s).unwrap();
            f.display().to_string()
        })
        .collect();
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in sys.argv[1:]:
    samples = {}
    for family in text_string_to_metric_families(open(f).read()):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    out.append(samples)
print(json.dumps(out))
"#;
    let o = Command::new(&python)
        .args(["-c", script])
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

/// The sum of the samples of `name` in a parsed scrape.
fn total(scrape: &BTreeMap<String, f64>, name: &str) -> f64 {
    (scrape.iter())
        .filter(|(k, _)| k.split('{').next() == Some(name))
        .map(|(_, v)| v)
        .sum()
}

/// What the page's `#history` list says it saw, in order: (triggers, model, dead letters,
/// state).
fn seen(dom: &str) -> Vec<(u64, String, u64, String)> {
    dom.split("<li class=\"seen\">")
        .skip(1)
        .map(|item| {
            let text = item.split('<').next().unwrap();
            let field = |k: &str| {
                text.split(&format!("{k}="))
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string()
            };
            (
                field("triggers").parse().unwrap(),
                field("model"),
                field("dead").parse().unwrap(),
                field("state"),
            )
        })
        .collect()
}

#[test]
fn a_running_kafka_pipeline_is_watched_live_and_scraped() {
    let Some(brokers) = kafka_brokers("a_running_kafka_pipeline_is_watched_live_and_scraped")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_000, "csv");
    let text = std::fs::read_to_string(dir.path().join("hyperplane.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<&str> = lines.collect();
    // 100 rows before the run, then 300 per step: a trigger every 300 samples.
    let chunks: Vec<String> = std::iter::once(&rows[..100])
        .chain(rows[100..].chunks(300))
        .map(|c| format!("{header}\n{}\n", c.join("\n")))
        .collect();
    let topic = unique_topic("serve");
    let csv = |i: usize| {
        let f = dir.path().join(format!("chunk-{i}.csv"));
        std::fs::write(&f, &chunks[i]).unwrap();
        f
    };
    produce_ok(&brokers, &csv(0), &topic, "2");
    let cfg = write_config(
        dir.path(),
        "serve.toml",
        &kafka_config(&brokers, &topic, &unique_topic("serve-out"), 300)
            .replace("until = \"end\"\n", ""),
    );
    let run = dir.path().join("run");
    let (mut child, addr, _log) = spawn_serving(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--serve",
            "127.0.0.1:0",
            "--status-every",
            "0.2",
            "--max-triggers",
            "4",
        ],
        "stderr",
    );
    // The page, opened once before the first trigger; Chromium's virtual time stands still
    // while the page's request waits for the run to change, so it follows the run in real time.
    let browser = chromium().map(|bin| {
        let url = format!("http://{addr}/run/0");
        std::thread::spawn(move || {
            let profile = tempfile::tempdir().unwrap();
            let o = headless(&bin, profile.path(), 600_000)
                .args(["--dump-dom", &url])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", stderr(&o));
            stdout(&o)
        })
    });
    let mut scrapes = Vec::new();
    let scrape_for = |d: Duration, scrapes: &mut Vec<String>| {
        let until = Instant::now() + d;
        while Instant::now() < until {
            // The server ends with the run.
            let Some((code, body)) = try_get(&addr, "/metrics") else {
                return;
            };
            assert_eq!(code, 200, "{body}");
            scrapes.push(body);
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    scrape_for(Duration::from_secs(2), &mut scrapes);
    for step in 1..chunks.len() {
        produce_ok(&brokers, &csv(step), &topic, "2");
        if step == 2 {
            // Mid-run, a message that is no sample: a dead letter.
            send_raw(
                &brokers,
                &topic,
                [(1, b"{\"key\": \"not a sample\"".to_vec())],
            );
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        scrape_for(Duration::from_millis(2500), &mut scrapes);
    }
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!(
                "the run never ended; its status: {}",
                std::fs::read_to_string(run.join("status.json")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.wait().unwrap().success());
    let s = summary(&run);
    assert_eq!(s["triggers"], 4, "{s}");
    assert_eq!(s["dead_letters"], 1, "{s}");
    // Both partitions' lag, adding up to the run's.
    let status: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("status.json")).unwrap()).unwrap();
    let lags: Vec<u64> = (status["partitions"].as_array().unwrap().iter())
        .map(|p| {
            p["lag"]
                .as_u64()
                .unwrap_or_else(|| panic!("no lag: {status}"))
        })
        .collect();
    assert_eq!(lags.len(), 2, "{status}");
    assert_eq!(
        lags.iter().sum::<u64>(),
        status["variants"][0]["lag_messages"].as_u64().unwrap(),
        "{status}"
    );

    // The finished run, served read-only: the last scrape and the screenshot.
    let (mut server, addr, _) = spawn_serving(&["serve", run.to_str().unwrap()], "stdout");
    scrapes.push(http_get(&addr, "/metrics").1);
    if let Some(browser) = browser {
        let dom = browser.join().unwrap();
        let seen = seen(&dom);
        eprintln!("the page saw: {seen:?}");
        let running: Vec<_> = seen.iter().filter(|s| s.3 == "running").collect();
        assert!(
            seen.windows(2).all(|w| w[0].0 <= w[1].0),
            "the trigger count went back: {seen:?}"
        );
        let counts: std::collections::BTreeSet<u64> = running.iter().map(|s| s.0).collect();
        let models: std::collections::BTreeSet<&str> = (running.iter())
            .map(|s| s.1.as_str())
            .filter(|m| *m != "-")
            .collect();
        assert!(counts.len() >= 3, "triggers seen while running: {seen:?}");
        assert!(models.len() >= 2, "models seen while running: {seen:?}");
        assert!(
            running.iter().any(|s| s.2 == 1 && s.0 < 4),
            "no dead letter seen mid-run: {seen:?}"
        );
        assert!(
            dom.contains(&format!("<code>{topic}/1/")),
            "the dead letter's location is not on the page"
        );
        let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        screenshot(&format!("http://{addr}/run/0"), &png);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    check_scrapes(&scrapes, &s, lags.iter().sum::<u64>() as f64);
}

/// The counters only grow from scrape to scrape; at least one scrape was taken mid-run;
/// the last (of the finished run) agrees with summary.json `s` and the final status's `lag`.
fn check_scrapes(scrapes: &[String], s: &serde_json::Value, lag: f64) {
    let Some(parsed) = parse_scrapes(scrapes) else {
        return;
    };
    for w in parsed.windows(2) {
        for (k, v) in w[0].iter().filter(|(k, _)| k.contains("_total{")) {
            let next = w[1].get(k).copied().unwrap_or(0.0);
            assert!(next >= *v, "{k} went from {v} to {next}");
        }
    }
    assert!(
        (parsed.iter()).any(|p| (1.0..4.0).contains(&total(p, "sluice_triggers_total"))),
        "no scrape during the run"
    );
    let last = parsed.last().unwrap();
    let n = |k: &str| s[k].as_f64().unwrap();
    assert_eq!(
        total(last, "sluice_samples_read_total"),
        n("samples") + n("dead_letters") + n("duplicates") + n("deletions")
    );
    assert_eq!(total(last, "sluice_dead_letters_total"), n("dead_letters"));
    assert_eq!(total(last, "sluice_samples_ingested_total"), n("samples"));
    assert_eq!(total(last, "sluice_triggers_total"), n("triggers"));
    assert_eq!(total(last, "sluice_models_total"), n("models"));
    assert!((total(last, "sluice_training_seconds_total") - n("training_s")).abs() < 0.01);
    assert_eq!(total(last, "sluice_up"), 1.0);
    assert_eq!(total(last, "sluice_running"), 0.0);
    assert!(total(last, "sluice_model_evaluation") > 0.0, "{last:?}");
    assert_eq!(total(last, "sluice_consumer_lag_messages"), lag, "{last:?}");
    assert_eq!(
        (last.keys())
            .filter(|k| k.starts_with("sluice_consumer_lag_messages{partition="))
            .count(),
        2,
        "a lag per partition: {last:?}"
    );
}

/// A PNG of `url` once its fragment is in (the README's screenshot).
fn screenshot(url: &str, png: &Path) {
    let Some(bin) = chromium() else { return };
    let profile = tempfile::tempdir().unwrap();
    let o = headless(&bin, profile.path(), 20_000)
        .args([
            "--hide-scrollbars",
            "--window-size=1280,1900",
            &format!("--screenshot={}", png.display()),
            url,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(png).unwrap().starts_with(b"\x89PNG"));
    eprintln!("dashboard screenshot: {}", png.display());
}

#[test]
fn runs_it_cannot_read_get_clear_errors_and_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_000, "csv");
    let cfg = write_config(dir.path(), "p.toml", &config("csv", 500));
    let good = dir.path().join("good");
    run_ok(&cfg, &good, "1");
    let corrupt = dir.path().join("corrupt");
    run_ok(&cfg, &corrupt, "1");
    std::fs::write(corrupt.join("status.json"), "{\"pipeline\": ").unwrap();
    let missing = dir.path().join("missing");
    let runs = [&good, &corrupt, &missing].map(|p| p.to_str().unwrap().to_string());
    let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
    args.extend(runs.iter().map(String::as_str));
    let (mut server, addr, _) = spawn_serving(&args, "stdout");

    let live = |i: usize| -> serde_json::Value {
        let (code, body) = http_get(&addr, &format!("/run/{i}/live"));
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let ok = live(0);
    assert_eq!(ok["state"], "finished");
    assert_eq!(ok["triggers"], summary(&good)["triggers"]);
    assert!(ok["html"].as_str().unwrap().contains("<svg"), "no charts");
    let bad = live(1);
    assert_eq!(bad["state"], "unreadable");
    let html = bad["html"].as_str().unwrap();
    assert!(html.contains("corrupt/status.json"), "{html}");
    let gone = live(2);
    assert!(
        (gone["html"].as_str().unwrap()).contains("no such run directory"),
        "{gone}"
    );
    let (code, index) = http_get(&addr, "/");
    assert_eq!(code, 200);
    assert!(index.contains("/run/2") && index.contains("corrupt/status.json"));
    assert_eq!(http_get(&addr, "/run/3/live").0, 404);
    let (_, metrics) = http_get(&addr, "/metrics");
    for (run, up) in [("good", 1), ("corrupt", 0), ("missing", 0)] {
        assert!(
            metrics.contains(&format!("sluice_up{{run=\"{run}\"}} {up}")),
            "{metrics}"
        );
    }

    // A directory created later is served once it exists: here by a run paced to 1,000
    // samples per second, seen running, then finished. Paced, it reads its last sample no
    // sooner than due: the training file's rows (`prepare` keeps a fifth for the test file)
    // at 1,000 per second.
    let rows = std::fs::read_to_string(dir.path().join("hyperplane.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    let due = Duration::from_millis(rows as u64);
    let started = Instant::now();
    let mut run = spawn_run(
        &cfg,
        &missing,
        &["--replay-rate", "1000", "--status-every", "0.1"],
    );
    let mut states = Vec::new();
    while run.try_wait().unwrap().is_none() {
        states.push(live(2)["state"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(run.wait().unwrap().success());
    assert!(
        started.elapsed() >= due,
        "{rows} samples at 1,000/s took {:?}",
        started.elapsed()
    );
    assert!(states.iter().any(|s| s == "running"), "{states:?}");
    assert_eq!(live(2)["state"], "finished");
    // Paced or not, the same run.
    assert_eq!(summary(&missing)["triggers"], summary(&good)["triggers"]);
    assert_eq!(
        jsonl(&missing.join("models.jsonl")).len(),
        jsonl(&good.join("models.jsonl")).len()
    );

    // The address is taken: a clear error, exit code 2; the first server still serves.
    let o = sluice(&["serve", "--addr", &addr, good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("cannot listen on {addr}")) && stderr(&o).contains("in use"),
        "{}",
        stderr(&o)
    );
    assert_eq!(live(0)["state"], "finished");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_drift_trigger_shows_its_numbers_against_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_000, "csv");
    let drift = r#"[trigger]
id = "drift"
evaluation_interval_data_points = 250
sample_size = 250
windows = { id = "amount", amount_ref = 250, amount_cur = 250 }

[trigger.metrics.mmd]
id = "mmd"
criterion = { id = "threshold", threshold = 0.0001 }
"#;
    let text = config("csv", 500).replace("[trigger]\nid = \"amount\"\nevery = 500\n", drift);
    assert!(text.contains("id = \"drift\""), "{text}");
    let cfg = write_config(dir.path(), "drift.toml", &text);
    let run = dir.path().join("drift");
    run_ok(&cfg, &run, "1");
    let fired = jsonl(&run.join("triggers.jsonl"));
    assert!(!fired.is_empty(), "the drift trigger never fired");
    let (mut server, addr, _) = spawn_serving(
        &["serve", "--addr", "127.0.0.1:0", run.to_str().unwrap()],
        "stdout",
    );
    let (code, body) = http_get(&addr, "/run/0/live");
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(code, 200, "{body}");
    let live: serde_json::Value = serde_json::from_str(&body).unwrap();
    let html = live["html"].as_str().unwrap();
    // The newest trigger's row: its reason and the distance against the threshold it passed.
    let last = fired.last().unwrap();
    let distance = last["details"]["mmd.distance"].as_f64().unwrap();
    assert!(distance > 0.0001, "{last}");
    let numbers = html
        .split("<tr>")
        .find(|row| row.contains(&format!("mmd.distance={distance:.4}")))
        .unwrap_or_else(|| panic!("no trigger row with mmd.distance={distance:.4}: {html}"));
    assert!(numbers.contains("mmd.threshold=0.0001"), "{numbers}");
    // Counts read as counts.
    assert!(numbers.contains("current_samples=250,"), "{numbers}");
    assert!(
        numbers.starts_with(&format!("<td>{}</td>", last["trigger_id"])),
        "{numbers}"
    );
    // The file (its 1,600 training rows) is partition 0: every row read, none left.
    assert!(
        html.contains("<tr><td>0</td><td>1600</td><td>0</td><td>0</td></tr>"),
        "no partition row: {html}"
    );
}

#[test]
fn a_sweep_is_served_variant_by_variant() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_000, "csv");
    let variants = "\n[[variant]]\nname = \"base\"\n\n[[variant]]\nname = \"amount-250\"\n\
                    trigger = { every = 250 }\n";
    let cfg = write_config(dir.path(), "sweep.toml", &(config("csv", 500) + variants));
    let run = dir.path().join("sweep");
    run_ok(&cfg, &run, "1");
    let sweep = summary(&run);
    let (mut server, addr, _) = spawn_serving(
        &["serve", "--addr", "127.0.0.1:0", run.to_str().unwrap()],
        "stdout",
    );
    let (code, body) = http_get(&addr, "/run/0/live");
    assert_eq!(code, 200, "{body}");
    let metrics = http_get(&addr, "/metrics").1;
    // One variant's page and its fragment: that variant alone.
    let second = sweep["variants"][1].clone();
    let name = second["variant"].as_str().unwrap();
    let (code, page) = http_get(&addr, &format!("/run/0/variant/{name}"));
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("/run/0/live?variant={name}&")),
        "{page}"
    );
    let (code, one) = http_get(&addr, &format!("/run/0/live?variant={name}"));
    assert_eq!(code, 200, "{one}");
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(one["triggers"], second["triggers"], "{one}");
    let html = one["html"].as_str().unwrap();
    assert_eq!(html.matches("<h2>variant ").count(), 1, "{html}");
    assert!(html.contains(&format!(">{name}</a></h2>")), "{html}");
    let (code, missing) = http_get(&addr, "/run/0/live?variant=nope");
    assert_eq!(code, 404, "{missing}");
    assert!(
        missing.contains("no variant `nope`") && missing.contains(name),
        "{missing}"
    );
    let index = http_get(&addr, "/").1;
    assert!(
        index.contains(&format!("href=\"/run/0/variant/{name}\"")),
        "{index}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let live: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(live["triggers"], sweep["triggers"], "{body}");
    let html = live["html"].as_str().unwrap();
    // A section per variant, each with its own trigger table and charts, in sweep order.
    let sections: Vec<&str> = html.split("<h2>variant ").skip(1).collect();
    assert_eq!(sections.len(), 2, "{html}");
    let parsed = parse_scrapes(&[metrics]);
    for (section, v) in sections.iter().zip(sweep["variants"].as_array().unwrap()) {
        let name = v["variant"].as_str().unwrap();
        assert!(
            section.starts_with(&format!(
                "<a href=\"/run/0/variant/{name}\">{name}</a></h2>"
            )),
            "{section}"
        );
        let rows = section.split("<table class=\"triggers\">").nth(1).unwrap();
        let rows = rows
            .split("</table>")
            .next()
            .unwrap()
            .matches("<tr><td>")
            .count();
        assert_eq!(
            rows as u64,
            v["triggers"].as_u64().unwrap().min(15),
            "{name}"
        );
        assert!(section.contains("<svg"), "{name}: no charts");
        if let Some(parsed) = &parsed {
            let labelled = |metric: &str| -> f64 {
                (parsed[0].iter())
                    .filter(|(k, _)| {
                        k.starts_with(&format!("{metric}{{"))
                            && k.contains(&format!("variant={name}"))
                    })
                    .map(|(_, v)| v)
                    .sum()
            };
            assert_eq!(
                labelled("sluice_triggers_total"),
                v["triggers"].as_f64().unwrap()
            );
            assert_eq!(
                labelled("sluice_models_total"),
                v["models"].as_f64().unwrap()
            );
        }
    }
    assert_ne!(
        sweep["variants"][0]["triggers"], sweep["variants"][1]["triggers"],
        "the variants should differ: {sweep}"
    );
}

//! The dashboard's HTML. The index lists the runs; a run's page is a shell whose script asks for
//! the run's [`fragment`] again as soon as the run changes and swaps it in (no reload). The
//! fragment shows, per variant: the status, the trigger timeline with each reason and its numbers,
//! the metric of the model in service over event time and the evaluation heatmap, the cost per
//! trigger by stage; then the run's dead-letter tail. Charts are SVG drawn here (plotters, the
//! report's plots): nothing is fetched from elsewhere.

use std::fmt::Write;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::Value;

use super::live::{RunView, VariantView};
use crate::calendar::format_time;
use crate::report::{Drawn, RunData, SIZE, plots};

/// The most triggers the timeline's table lists (the newest).
const TRIGGER_ROWS: usize = 15;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;max-width:1200px}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:left;vertical-align:top}th{background:#eee}.error{color:#b00}\
.charts{display:flex;flex-wrap:wrap;gap:8px}.charts svg{width:580px;height:auto;\
border:1px solid #ddd}code{font-size:90%}";

/// `s` percent-encoded for a URL's query or path (all but unreserved characters).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// HTML-escaped `s`.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head>\n",
        esc(title)
    )
}

/// `/`: every run with its state, linked to its page.
pub fn index(runs: &[RunView]) -> String {
    let mut h = head("Sluice runs");
    h.push_str(
        "<body><h1>Sluice runs</h1><table><tr><th>run</th><th>state</th>\
                <th>triggers</th><th>dead letters</th></tr>\n",
    );
    for (i, r) in runs.iter().enumerate() {
        let state = match &r.status {
            Ok(s) => esc(&s.state),
            Err(e) => format!("<span class=\"error\">{}</span>", esc(e)),
        };
        let variants: Vec<String> = (r.variants.iter())
            .filter_map(|v| v.name.as_deref())
            .map(|v| format!("<a href=\"/run/{i}/variant/{}\">{}</a>", encode(v), esc(v)))
            .collect();
        let variants = if variants.is_empty() {
            String::new()
        } else {
            format!(" (variants: {})", variants.join(", "))
        };
        let _ = writeln!(
            h,
            "<tr><td><a href=\"/run/{i}\">{}</a>{variants}</td><td>{state}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&r.name),
            r.triggers(),
            r.dead_letters
        );
    }
    h.push_str("</table><p><a href=\"/metrics\">/metrics</a> (Prometheus)</p></body></html>\n");
    h
}

/// `/run/<i>`: the page that keeps `/run/<i>/live` swapped in as the run changes. The body's data
/// attributes (`data-updates`, `data-triggers`, `data-model`, `data-dead`, `data-state`) and the
/// list `#history` (one item each time one of them changed) say what the page has seen.
pub fn shell(i: usize, name: &str, variant: Option<&str>) -> String {
    let title = match variant {
        Some(v) => format!("{name}: variant {v}"),
        None => name.to_string(),
    };
    let live = match variant {
        Some(v) => format!("/run/{i}/live?variant={}&", encode(v)),
        None => format!("/run/{i}/live?"),
    };
    let mut h = head(&format!("Sluice: {title}"));
    let _ = write!(
        h,
        "<body data-updates=\"0\"><p><a href=\"/\">all runs</a></p><h1>{}</h1>\
         <p id=\"error\" class=\"error\"></p><div id=\"live\">loading…</div>\
         <h3>Seen on this page</h3><ol id=\"history\"></ol>\n<script>\n{}</script></body></html>\n",
        esc(&title),
        SCRIPT.replace("LIVE", &live)
    );
    h
}

/// The shell's script: asks for the fragment again as soon as the run changes (the server
/// holds the request until then), and stops once the run finished.
const SCRIPT: &str = r#"let last = null, version = '';
async function poll() {
  let again = 2000;
  try {
    const r = await fetch('LIVE' + 'since=' + encodeURIComponent(version), {cache: 'no-store'});
    if (!r.ok) throw new Error(r.status + ' ' + (await r.text()));
    const j = await r.json();
    document.getElementById('live').innerHTML = j.html;
    document.getElementById('error').textContent = '';
    const b = document.body;
    b.dataset.updates = String(Number(b.dataset.updates) + 1);
    b.dataset.triggers = j.triggers;
    b.dataset.model = j.model || '';
    b.dataset.dead = j.dead;
    b.dataset.state = j.state;
    const seen = `triggers=${j.triggers} model=${j.model || '-'} dead=${j.dead} state=${j.state}`;
    if (seen !== last) {
      last = seen;
      const li = document.createElement('li');
      li.className = 'seen';
      li.textContent = seen;
      document.getElementById('history').appendChild(li);
    }
    version = j.version;
    // A finished run changes no more (reload the page after resuming it).
    if (j.state === 'finished' || j.state === 'failed') return;
    again = 200;
  } catch (e) {
    document.getElementById('error').textContent = 'cannot update: ' + e;
  }
  setTimeout(poll, again);
}
poll();
"#;

/// `/run/<i>/live`'s HTML: the run now (its variants in `run`, all or the one asked for).
pub fn fragment(i: usize, run: &RunView, now_ms: u64, rates: &[Option<f64>]) -> String {
    let mut h = String::new();
    match &run.status {
        Ok(s) => {
            let _ = writeln!(
                h,
                "<p>pipeline <b>{}</b> from <code>{}</code>: <b id=\"state\">{}</b>, updated {}</p>",
                esc(&s.pipeline),
                esc(&s.source),
                esc(&s.state),
                ago(now_ms, s.updated_ms)
            );
        }
        Err(e) => {
            let _ = writeln!(h, "<p class=\"error\" id=\"status-error\">{}</p>", esc(e));
        }
    }
    for (v, rate) in run.variants.iter().zip(rates) {
        variant(&mut h, i, run, v, now_ms, *rate);
    }
    if let Ok(s) = &run.status
        && !s.partitions.is_empty()
    {
        h.push_str(
            "<h3>Source partitions</h3><table class=\"partitions\"><tr><th>partition</th>\
             <th>read</th><th>dead letters</th><th>unread</th></tr>",
        );
        for p in &s.partitions {
            let lag = p.lag.map_or("-".into(), |l| l.to_string());
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{lag}</td></tr>",
                p.partition, p.read, p.dead_letters
            );
        }
        h.push_str("</table>\n");
    }
    dead_letters(&mut h, run);
    h
}

fn ago(now_ms: u64, then_ms: u64) -> String {
    format!("{} ago", span(now_ms.saturating_sub(then_ms)))
}

/// `ms` in the unit a reader takes in at a glance: s, min, h or days.
fn span(ms: u64) -> String {
    match ms as f64 / 1000.0 {
        s if s < 10.0 => format!("{s:.1} s"),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.0} days", s / 86_400.0),
    }
}

/// A variant's section: status, triggers, charts.
fn variant(
    h: &mut String,
    i: usize,
    run: &RunView,
    v: &VariantView,
    now_ms: u64,
    rate: Option<f64>,
) {
    if let Some(name) = &v.name {
        let _ = writeln!(
            h,
            "<h2>variant <a href=\"/run/{}/variant/{}\">{}</a></h2>",
            i,
            encode(name),
            esc(name)
        );
    }
    if let Some(l) = &v.lane {
        let model = v.model_in_service();
        let age = model
            .and_then(|m| m["wall_time_ms"].as_u64())
            .map_or_else(String::new, |t| format!(" (stored {})", ago(now_ms, t)));
        let rows = [
            ("state", esc(&l.state)),
            ("watermark", l.watermark.map_or("-".into(), format_time)),
            (
                "lag",
                format!(
                    "{} behind the clock; {} messages unread",
                    l.lag_ms.map_or("-".into(), span),
                    l.lag_messages.map_or("-".into(), |n| n.to_string())
                ),
            ),
            ("samples", l.samples.to_string()),
            ("samples/s", rate.map_or("-".into(), |r| format!("{r:.0}"))),
            (
                "triggers",
                format!("<span class=\"triggers\">{}</span>", l.triggers),
            ),
            (
                "model in service",
                format!(
                    "<span class=\"model\">{}</span>{age}",
                    esc(l.model.as_deref().unwrap_or("none yet"))
                ),
            ),
            ("training queue", l.queue.to_string()),
            ("dead letters", run.dead_letters.to_string()),
        ];
        h.push_str("<table class=\"status\">");
        for (k, val) in rows {
            let _ = write!(h, "<tr><th>{k}</th><td>{val}</td></tr>");
        }
        h.push_str("</table>\n");
    }
    match &v.data {
        Ok(data) => charts(h, data),
        Err(e) => {
            let _ = writeln!(h, "<p class=\"error\">{}</p>", esc(e));
        }
    }
}

/// The trigger table and the charts of a variant's events.
fn charts(h: &mut String, data: &RunData) {
    h.push_str(
        "<h3>Triggers</h3><table class=\"triggers\"><tr><th>trigger</th>\
                <th>boundary</th><th>samples</th><th>reason</th><th>numbers</th></tr>",
    );
    for t in data.triggers.iter().rev().take(TRIGGER_ROWS) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.id,
            format_time(t.last),
            t.samples,
            esc(&t.reason),
            esc(&details(&t.details))
        );
    }
    h.push_str("</table>\n<div class=\"charts\">");
    if !data.triggers.is_empty() {
        h.push_str(&svg(|a| plots::trigger_timeline(a, data)));
    }
    if let Some(focus) = data.default_focus() {
        h.push_str(&svg(|a| plots::metric_over_time(a, data, &focus)));
        h.push_str(&svg(|a| plots::heatmap(a, data, &focus)));
    }
    if !data.costs.is_empty() {
        h.push_str(&svg(|a| plots::cost(a, data)));
    }
    h.push_str("</div>\n");
}

/// A decision's numbers, `name=value` (nested objects flattened with `.`).
fn details(v: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            Value::Null => {}
            Value::Number(n) => out.push(format!(
                "{prefix}={}",
                n.as_f64().map_or(n.to_string(), |f| if f.fract() == 0.0 {
                    format!("{f:.0}")
                } else {
                    format!("{f:.4}")
                })
            )),
            x => out.push(format!("{prefix}={x}")),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.join(", ")
}

/// A plot drawn as inline SVG (its error, if drawing failed).
fn svg(
    draw: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> Drawn<SVGBackend<'a>>,
) -> String {
    crate::report::register_font();
    let mut out = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| format!("{e:?}"))
    };
    match drawn {
        Ok(()) => out,
        Err(e) => format!("<p class=\"error\">drawing a chart: {}</p>", esc(&e)),
    }
}

/// The run's newest dead letters.
fn dead_letters(h: &mut String, run: &RunView) {
    let _ = write!(
        h,
        "<h3>Dead letters: <span id=\"dead\">{}</span></h3>",
        run.dead_letters
    );
    if run.dead_tail.is_empty() {
        return;
    }
    h.push_str("<table class=\"dead\"><tr><th>where</th><th>why</th><th>input</th></tr>");
    for d in run.dead_tail.iter().rev() {
        let text = |k: &str| esc(d[k].as_str().unwrap_or_default());
        let raw: String = d["raw"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
            text("location"),
            text("reason"),
            esc(&raw)
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::span;

    #[test]
    fn spans_read_in_the_unit_that_fits() {
        assert_eq!(span(2_345), "2.3 s");
        assert_eq!(span(42_000), "42 s");
        assert_eq!(span(30 * 60_000), "30 min");
        assert_eq!(span(5 * 3_600_000), "5.0 h");
        // A replayed stream from years ago: days, not millions of seconds.
        assert_eq!(span(92_576_970_800), "1071 days");
    }
}

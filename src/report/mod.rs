//! `sluice report <run-dir>… [--out DIR]`: plots (PNG and SVG, plotters) and an `index.html`
//! with a summary table, from run directories (Modyn's `analytics/`).
//!
//! | file | responsibility |
//! |---|---|
//! | `data.rs` | [`RunData`]: a run directory read back (summary, triggers, models, costs, evaluations) |
//! | `plots.rs` | the plots, each drawn on any plotters backend |
//! | `error.rs` | [`ReportError`]: an incomplete run directory (exit code 2) or a failed write |
//!
//! Per run: the metric over time for every model and the composite models, the model ×
//! interval heatmap, cost per trigger stacked by stage and cumulative, the trigger timeline
//! with reasons. For several runs: cost vs metric and triggers vs metric, one point per pipeline
//! (runs with the same pipeline name are seeds: means with ± one standard deviation). A sweep's
//! directory stands for its variants, each a pipeline `<pipeline>/<variant>`. Text is
//! drawn with the DejaVu Sans font compiled into the binary, so PNGs look the same everywhere.

mod data;
mod error;
pub mod plots;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::Serialize;

pub use data::{EVENT_FILES, Focus, RunData, read_jsonl, read_summary};
pub use error::ReportError;
pub use plots::{Drawn, SIZE};
use plots::{VariantPoint, mean_sd};

/// What `report` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    /// The output directory.
    pub out: PathBuf,
    /// `index.html`.
    pub index: PathBuf,
    /// Every plot file written (PNG and SVG).
    pub plots: Vec<PathBuf>,
    /// The evaluation series plotted.
    pub focus: Option<(String, String, String)>,
}

/// Registers the bundled font the plots draw their text with (once per process).
pub fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled font is valid TrueType; a failure would only lose the labels' text.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Draws `$draw(&area, args…)` into `<$out>/<$stem>.png` and `.svg`, records both paths in
/// `$files` and the figure (`$caption`, `$stem`) in `$figures`.
macro_rules! render {
    ($files:expr, $figures:expr, $out:expr, $stem:expr, $caption:expr, $draw:path, $($arg:expr),*) => {{
        let name: String = $stem;
        // Appended, not `with_extension`: a run named `v1.2` must not lose its `.2-metric`.
        let png: PathBuf = $out.join(format!("{name}.png"));
        let svg: PathBuf = $out.join(format!("{name}.svg"));
        let fail = |p: &Path, e: &dyn std::fmt::Debug| ReportError::Failed(format!("drawing {}: {e:?}", p.display()));
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(&png, &e))?;
            $draw(&root, $($arg),*).map_err(|e| fail(&png, &e))?;
            root.present().map_err(|e| fail(&png, &e))?;
        }
        {
            let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(&svg, &e))?;
            $draw(&root, $($arg),*).map_err(|e| fail(&svg, &e))?;
            root.present().map_err(|e| fail(&svg, &e))?;
        }
        $files.push(png);
        $files.push(svg);
        $figures.push(($caption, name));
    }};
}

/// Reads `runs`, writes plots and `index.html` to `out`. `focus` picks the evaluation series
/// (default: the first run's first currently-active aggregate, accuracy preferred).
pub fn report(
    runs: &[PathBuf],
    out: &Path,
    focus: Option<Focus>,
) -> Result<ReportSummary, ReportError> {
    register_font();
    let mut data = load_runs(runs)?;
    name_plot_files(&mut data);
    let focus = focus.or_else(|| data.iter().find_map(RunData::default_focus));
    if let Some(f) = focus.as_ref().filter(|f| f.pooled)
        && !data.iter().any(|d| d.in_service(f).is_some())
    {
        return Err(ReportError::Usage(format!(
            "--pooled: no run has a pooled {} for handler `{}` on {} (only an \
             `after_pipeline` `slicing` handler's model in service has one)",
            f.metric, f.handler, f.dataset
        )));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| ReportError::Failed(format!("creating {}: {e}", out.display())))?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut sections = Vec::new();
    for d in &data {
        sections.push((d, run_figures(d, focus.as_ref(), out, &mut files)?));
    }
    let compare = if data.len() > 1 {
        comparison_figures(&data, focus.as_ref(), out, &mut files)?
    } else {
        Vec::new()
    };
    let index = out.join("index.html");
    std::fs::write(&index, html(&data, focus.as_ref(), &sections, &compare))
        .map_err(|e| ReportError::Failed(format!("writing {}: {e}", index.display())))?;
    Ok(ReportSummary {
        out: out.to_path_buf(),
        index,
        plots: files,
        focus: focus.map(|f| (f.handler, f.dataset, f.metric)),
    })
}

/// Every run of `runs` read back, a sweep's directory as its variants.
fn load_runs(runs: &[PathBuf]) -> Result<Vec<RunData>, ReportError> {
    let mut data = Vec::new();
    for dir in &sweeps_expanded(runs)? {
        data.push(RunData::load(dir)?);
    }
    Ok(data)
}

/// Gives the runs distinct names that are safe in plot file names (`-2`, `-3`… for a repeated
/// name; other characters than ASCII alphanumerics and `-_.` become `_`).
fn name_plot_files(data: &mut [RunData]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for d in data {
        let n = seen.entry(d.name.clone()).or_default();
        *n += 1;
        if *n > 1 {
            d.name = format!("{}-{n}", d.name);
        }
        d.name = d
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
    }
}

/// Draws one run's plots into `out` (the metric and heatmap only when the run has the
/// `focus` series); returns its figures (caption, stem) and adds the files to `files`.
fn run_figures(
    d: &RunData,
    focus: Option<&Focus>,
    out: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Vec<(&'static str, String)>, ReportError> {
    let mut figures: Vec<(&str, String)> = Vec::new();
    if let Some(f) = focus
        && !d.series(f).is_empty()
    {
        render!(
            files,
            figures,
            out,
            format!("{}-metric", d.name),
            "metric over time, every model and the composite models",
            plots::metric_over_time,
            d,
            f
        );
        render!(
            files,
            figures,
            out,
            format!("{}-heatmap", d.name),
            "evaluation matrix: model × interval",
            plots::heatmap,
            d,
            f
        );
    }
    render!(
        files,
        figures,
        out,
        format!("{}-cost", d.name),
        "cost per trigger by stage, and cumulative",
        plots::cost,
        d
    );
    render!(
        files,
        figures,
        out,
        format!("{}-triggers", d.name),
        "triggers and their reasons",
        plots::trigger_timeline,
        d
    );
    Ok(figures)
}

/// Draws the plots comparing pipelines (cost vs metric, triggers vs metric) into `out`, when
/// any pipeline has the `focus` metric; returns their figures and adds the files to `files`.
fn comparison_figures(
    data: &[RunData],
    focus: Option<&Focus>,
    out: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<Vec<(&'static str, String)>, ReportError> {
    let mut compare: Vec<(&str, String)> = Vec::new();
    let groups = by_pipeline(data);
    let points = |x: &dyn Fn(&RunData) -> f64| pipeline_points(&groups, focus, x);
    let y_desc = focus.map_or_else(String::new, |f| {
        let how = if f.pooled { "pooled" } else { "time-weighted" };
        format!("{how} {} of the model in service", f.metric)
    });
    let by_cost = points(&|d: &RunData| d.total_cost_s());
    if !by_cost.is_empty() {
        let title = "cost vs metric (one point per pipeline; ± 1 sd over its runs)";
        render!(
            files,
            compare,
            out,
            "compare-cost-vs-metric".into(),
            "cost vs metric",
            plots::variants,
            title,
            "total cost (s, every stage)",
            &y_desc,
            &by_cost
        );
        let by_triggers = points(&|d: &RunData| d.summary["triggers"].as_f64().unwrap_or(0.0));
        let title = "triggers vs metric (one point per pipeline; ± 1 sd over its runs)";
        render!(
            files,
            compare,
            out,
            "compare-triggers-vs-metric".into(),
            "triggers vs metric",
            plots::variants,
            title,
            "number of triggers",
            &y_desc,
            &by_triggers
        );
    }
    Ok(compare)
}

/// The runs grouped by pipeline name (a pipeline's runs are seeds).
fn by_pipeline(data: &[RunData]) -> BTreeMap<&str, Vec<&RunData>> {
    let mut groups: BTreeMap<&str, Vec<&RunData>> = BTreeMap::new();
    for d in data {
        groups.entry(d.pipeline.as_str()).or_default().push(d);
    }
    groups
}

/// One point per pipeline with the `focus` metric in any run: `x` and the time-weighted (or
/// pooled) metric of the model in service, each as mean ± sd over the pipeline's runs.
fn pipeline_points(
    groups: &BTreeMap<&str, Vec<&RunData>>,
    focus: Option<&Focus>,
    x: &dyn Fn(&RunData) -> f64,
) -> Vec<VariantPoint> {
    let metric_of = |d: &RunData| -> Option<f64> { d.in_service(focus?) };
    groups
        .iter()
        .filter_map(|(name, runs)| {
            let ys: Vec<f64> = runs.iter().filter_map(|d| metric_of(d)).collect();
            (!ys.is_empty()).then(|| VariantPoint {
                name: name.to_string(),
                x: mean_sd(&runs.iter().map(|d| x(d)).collect::<Vec<_>>()),
                y: mean_sd(&ys),
                runs: runs.len(),
            })
        })
        .collect()
}

/// `runs` with each sweep's directory replaced by its variants' (`variants/<name>`, in the
/// sweep's order): a sweep is compared (and `sluice lineage` reads it) variant by variant.
pub fn sweeps_expanded(runs: &[PathBuf]) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    for dir in runs {
        let summary: Option<serde_json::Value> = std::fs::read(dir.join("summary.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let variants: Vec<&str> = summary
            .as_ref()
            .and_then(|s| s["variants"].as_array())
            .map(|v| v.iter().filter_map(|v| v["variant"].as_str()).collect())
            .unwrap_or_default();
        if variants.is_empty() {
            out.push(dir.clone());
        } else {
            out.extend(variants.iter().map(|v| dir.join("variants").join(v)));
        }
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type Section<'a> = (&'a RunData, Vec<(&'a str, String)>);

fn html(
    data: &[RunData],
    focus: Option<&Focus>,
    sections: &[Section<'_>],
    compare: &[(&str, String)],
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sluice report</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:#eee}}\
         td:first-child,th:first-child{{text-align:left}}img{{max-width:100%;border:1px solid #ddd}}</style></head>\n<body>\n\
         <h1>Sluice report</h1>\n"
    );
    if let Some(f) = focus {
        let _ = writeln!(
            h,
            "<p>Metric: <b>{}</b> on <b>{}</b>, handler <b>{}</b>. The model in service is the \
             currently-active composite model: for each interval, the newest model trained on data \
             before it.</p>",
            esc(&f.metric),
            esc(&f.dataset),
            esc(&f.handler)
        );
    }
    h.push_str(
        "<table id=\"summary\">\n<tr><th>run</th><th>pipeline</th><th>triggers</th><th>models</th>\
         <th>samples</th><th>wall s</th><th>training s</th><th>total cost s</th>\
         <th>time-weighted (in service)</th><th>mean</th><th>min</th><th>intervals</th>",
    );
    let pooled = focus.is_some_and(|f| f.pooled);
    h.push_str(if pooled {
        "<th>pooled (in service)</th></tr>\n"
    } else {
        "</tr>\n"
    });
    for d in data {
        let s = &d.summary;
        let agg = focus.and_then(|f| d.aggregate(f, "currently_active"));
        let num = |v: Option<f64>, p: usize| v.map_or_else(|| "–".into(), |v| format!("{v:.p$}"));
        let a = |k: &str| agg.and_then(|a| a[k].as_f64());
        let _ = write!(
            h,
            "<tr><td><a href=\"#{name}\">{name}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&d.pipeline),
            s["triggers"],
            s["models"],
            s["samples"],
            num(s["wall_s"].as_f64(), 2),
            num(s["training_s"].as_f64(), 2),
            num(Some(d.total_cost_s()), 2),
            num(a("time_weighted_avg"), 4),
            num(a("mean"), 4),
            num(a("min"), 4),
            agg.map_or_else(|| "–".into(), |a| a["intervals"].to_string()),
            name = esc(&d.name),
        );
        if pooled {
            let _ = write!(h, "<td>{}</td>", num(a("prequential"), 4));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    let figure = |h: &mut String, caption: &str, stem: &str| {
        let _ = writeln!(
            h,
            "<figure><img src=\"{s}.png\" width=\"{w}\" height=\"{ht}\" alt=\"{c}\">\
             <figcaption>{c} (<a href=\"{s}.svg\">SVG</a>)</figcaption></figure>",
            s = esc(stem),
            c = esc(caption),
            w = SIZE.0,
            ht = SIZE.1
        );
    };
    if !compare.is_empty() {
        h.push_str("<h2>Comparison</h2>\n");
        for (caption, stem) in compare {
            figure(&mut h, caption, stem);
        }
    }
    for (d, plots) in sections {
        let _ = writeln!(
            h,
            "<h2 id=\"{n}\">{n}</h2>\n<p>{}</p>",
            esc(&d.dir.display().to_string()),
            n = esc(&d.name)
        );
        for (caption, stem) in plots {
            figure(&mut h, caption, stem);
        }
    }
    // Marks the page with how many images loaded (the report test reads it in headless
    // Chromium).
    h.push_str(
        "<script>window.addEventListener('load',()=>{const i=[...document.images];\
         document.body.dataset.images=i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});</script>\n\
         </body></html>\n",
    );
    h
}

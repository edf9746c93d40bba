//! The report's plots (plotters), each drawn on any backend: `render!` writes it as PNG and SVG.

use std::collections::{BTreeMap, BTreeSet};

use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{EvalRow, Focus, RunData, STAGES};

/// Plot size, pixels (PNG) and user units (SVG).
pub const SIZE: (u32, u32) = (960, 540);

/// A drawing result.
pub type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const FONT: &str = "sans-serif";

fn hours(ms: u64) -> f64 {
    ms as f64 / 3_600_000.0
}

fn stage_color(i: usize) -> RGBColor {
    [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ][i % 6]
}

/// A value range with some room around it.
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad, hi + pad)
}

/// Where an interval sits on the time axis: its middle (an open end is closed at `data_end`).
fn middle(r: &EvalRow, data_end: u64) -> u64 {
    let end = r.end.unwrap_or(data_end).max(r.start);
    r.start + (end - r.start) / 2
}

/// The metric over event time: one faint line per model over its intervals, and the composite
/// models (currently active, currently trained) in bold.
pub fn metric_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunData,
    focus: &Focus,
) -> Drawn<DB> {
    let rows = run.series(focus);
    let t0 = rows.iter().map(|r| r.start).min().unwrap_or(0);
    let data_end = rows
        .iter()
        .map(|r| r.end.unwrap_or(r.start))
        .max()
        .unwrap_or(t0 + 1);
    let x = |r: &EvalRow| hours(middle(r, data_end) - t0);
    let xmax = hours(data_end - t0).max(1e-3);
    let (lo, hi) = padded(rows.iter().map(|r| r.value));
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: {} on {} ({})",
                run.name, focus.metric, focus.dataset, focus.handler
            ),
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("event time since the first interval (h)")
        .y_desc(focus.metric.as_str())
        .label_style((FONT, 14))
        .draw()?;
    let mut by_model: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &rows {
        by_model.entry(r.trigger).or_default().push((x(r), r.value));
    }
    for (i, (_, mut points)) in by_model.into_iter().enumerate() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = Palette99::pick(i).mix(0.35);
        chart.draw_series(LineSeries::new(points, color.stroke_width(1)))?;
    }
    for (flag, color, name) in [
        (true, BLACK, "currently active"),
        (false, RGBColor(214, 39, 40), "currently trained"),
    ] {
        let mut points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| if flag { r.active } else { r.trained } == Some(true))
            .map(|r| (x(r), r.value))
            .collect();
        if points.is_empty() {
            continue;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let composite = if flag {
            "currently_active"
        } else {
            "currently_trained"
        };
        let label = match run
            .aggregate(focus, composite)
            .and_then(|a| a["time_weighted_avg"].as_f64())
        {
            Some(v) => format!("{name} (time-weighted {v:.3})"),
            None => name.to_string(),
        };
        let width = if flag { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}

/// Blue (low) to yellow (high).
fn heat(v: f64, lo: f64, hi: f64) -> RGBColor {
    let t = if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(40.0, 250.0), mix(50.0, 225.0), mix(140.0, 40.0))
}

/// The evaluation matrix: models (rows) × intervals (columns), coloured by value; the
/// currently-active cell of each interval is outlined.
pub fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunData,
    focus: &Focus,
) -> Drawn<DB> {
    let rows = run.series(focus);
    let intervals: Vec<(u64, Option<u64>)> = rows
        .iter()
        .map(|r| (r.start, r.end))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let models: Vec<u64> = rows
        .iter()
        .map(|r| r.trigger)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (lo, hi) = rows
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
            (a.min(r.value), b.max(r.value))
        });
    let t0 = intervals.first().map_or(0, |i| i.0);
    let (nx, ny) = (intervals.len().max(1), models.len().max(1));
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: {} matrix, model × interval ({:.3} blue … {:.3} yellow)",
                run.name, focus.metric, lo, hi
            ),
            (FONT, 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)?;
    let starts: Vec<String> = intervals
        .iter()
        .map(|i| format!("{:.1}", hours(i.0 - t0)))
        .collect();
    let label_x = |v: &f64| {
        let i = v.floor() as usize;
        starts.get(i).cloned().unwrap_or_default()
    };
    let label_y = |v: &f64| {
        let i = v.floor() as usize;
        models.get(i).map(|t| t.to_string()).unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("interval start (h since the first)")
        .y_desc("model (trigger)")
        .x_labels(nx.min(12))
        .y_labels(ny.min(20))
        .x_label_formatter(&label_x)
        .y_label_formatter(&label_y)
        .label_style((FONT, 14))
        .draw()?;
    let cell = |r: &EvalRow| {
        let i = intervals
            .iter()
            .position(|v| *v == (r.start, r.end))
            .unwrap_or(0) as f64;
        let j = models.iter().position(|m| *m == r.trigger).unwrap_or(0) as f64;
        (i, j)
    };
    chart.draw_series(rows.iter().map(|r| {
        let (i, j) = cell(r);
        Rectangle::new([(i, j), (i + 1.0, j + 1.0)], heat(r.value, lo, hi).filled())
    }))?;
    chart.draw_series(rows.iter().filter(|r| r.active == Some(true)).map(|r| {
        let (i, j) = cell(r);
        Rectangle::new([(i, j), (i + 1.0, j + 1.0)], BLACK.stroke_width(3))
    }))?;
    if nx * ny <= 150 {
        chart.draw_series(rows.iter().map(|r| {
            let (i, j) = cell(r);
            Text::new(
                format!("{:.2}", r.value),
                (i + 0.15, j + 0.65),
                (FONT, 12).into_font().color(&BLACK),
            )
        }))?;
    }
    Ok(())
}

/// Cost per trigger stacked by stage (top) and cumulative over event time (bottom).
pub fn cost<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &RunData) -> Drawn<DB> {
    let (top, bottom) = area.split_vertically(SIZE.1 * 3 / 5);
    let triggers: Vec<u64> = run.triggers.iter().map(|t| t.id).collect();
    let n = triggers.len().max(1);
    let stacked: Vec<[f64; 7]> = triggers
        .iter()
        .map(|t| {
            let c = run.costs.get(t).copied().unwrap_or_default();
            let mut acc = [0.0; 7];
            for s in 0..6 {
                acc[s + 1] = acc[s] + c[s] / 1000.0;
            }
            acc
        })
        .collect();
    let ymax = stacked.iter().map(|a| a[6]).fold(0.0, f64::max).max(1e-3) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("{}: cost per trigger by stage", run.name),
            (FONT, 20),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("trigger")
        .y_desc("seconds")
        .x_labels(n.min(20))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 13))
        .draw()?;
    for (s, (_, name)) in STAGES.iter().enumerate() {
        let color = stage_color(s);
        chart
            .draw_series(stacked.iter().enumerate().map(|(k, a)| {
                let k = k as f64;
                Rectangle::new([(k - 0.4, a[s]), (k + 0.4, a[s + 1])], color.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;

    let t0 = run.triggers.first().map_or(0, |t| t.first);
    let mut cumulative = Vec::new();
    let mut total = 0.0;
    for (t, a) in run.triggers.iter().zip(&stacked) {
        total += a[6];
        cumulative.push((hours(t.last - t0), total));
    }
    let xmax = cumulative.last().map_or(1.0, |c| c.0).max(1e-3);
    let mut chart = ChartBuilder::on(&bottom)
        .caption("cumulative cost over event time", (FONT, 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax * 1.02, 0f64..total.max(1e-3) * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("event time of the trigger (h since the first sample)")
        .y_desc("seconds")
        .label_style((FONT, 13))
        .draw()?;
    chart.draw_series(LineSeries::new(cumulative.clone(), BLACK.stroke_width(2)))?;
    chart.draw_series(
        cumulative
            .into_iter()
            .map(|p| Circle::new(p, 3, BLACK.filled())),
    )?;
    Ok(())
}

/// Triggers over event time, each with its reason (up to 15 labelled).
pub fn trigger_timeline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &RunData,
) -> Drawn<DB> {
    let t0 = run.triggers.first().map_or(0, |t| t.first);
    let points: Vec<(f64, f64)> = run
        .triggers
        .iter()
        .map(|t| (hours(t.last - t0), t.id as f64))
        .collect();
    let xmax = points.last().map_or(1.0, |p| p.0).max(1e-3) * 1.25;
    let ymax = points.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: {} triggers", run.name, run.triggers.len()),
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..xmax, -0.5f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("event time of the trigger's last sample (h since the first sample)")
        .y_desc("trigger")
        // Trigger ids are integers: no label between two.
        .y_labels((points.len() + 1).min(11))
        .y_label_formatter(&|v| {
            if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(
        points
            .iter()
            .map(|&p| Circle::new(p, 5, RGBColor(31, 119, 180).filled())),
    )?;
    let every = run.triggers.len().div_ceil(15).max(1);
    chart.draw_series(
        run.triggers
            .iter()
            .zip(&points)
            .step_by(every)
            .map(|(t, &(x, y))| {
                let mut reason = t.reason.clone();
                if reason.chars().count() > 48 {
                    reason = reason.chars().take(47).collect::<String>() + "…";
                }
                Text::new(reason, (x, y + 0.15), (FONT, 12).into_font())
            }),
    )?;
    Ok(())
}

/// One point per pipeline variant (runs with the same pipeline name are its seeds): the mean
/// of `y` over its runs against the mean of `x`, with ± one standard deviation.
pub struct VariantPoint {
    /// Pipeline name.
    pub name: String,
    /// Mean x, and its standard deviation.
    pub x: (f64, f64),
    /// Mean y, and its standard deviation.
    pub y: (f64, f64),
    /// Runs.
    pub runs: usize,
}

/// Mean and (sample) standard deviation.
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

/// A scatter of variants with error bars in both directions.
pub fn variants<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    points: &[VariantPoint],
) -> Drawn<DB> {
    let (xlo, xhi) = padded(points.iter().flat_map(|p| [p.x.0 - p.x.1, p.x.0 + p.x.1]));
    let (ylo, yhi) = padded(points.iter().flat_map(|p| [p.y.0 - p.y.1, p.y.0 + p.y.1]));
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xlo..xhi + (xhi - xlo) * 0.25, ylo..yhi)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .draw()?;
    for (i, p) in points.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart.draw_series([ErrorBar::new_vertical(
            p.x.0,
            p.y.0 - p.y.1,
            p.y.0,
            p.y.0 + p.y.1,
            color,
            8,
        )])?;
        chart.draw_series([ErrorBar::new_horizontal(
            p.y.0,
            p.x.0 - p.x.1,
            p.x.0,
            p.x.0 + p.x.1,
            color,
            8,
        )])?;
        chart.draw_series([Circle::new((p.x.0, p.y.0), 5, color.filled())])?;
        chart.draw_series([Text::new(
            format!("{} (n={})", p.name, p.runs),
            (p.x.0 + (xhi - xlo) * 0.01, p.y.0),
            (FONT, 13).into_font(),
        )])?;
    }
    Ok(())
}

//! `sluice report` end to end: real runs, every plot a valid PNG / SVG of the expected size,
//! `index.html` rendered by headless Chromium with every image loaded, and run directories
//! missing a file rejected with the file's name.

mod common;

use std::path::Path;

use common::*;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;

/// Width and height of a PNG (its IHDR chunk), after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR", "{}", path.display());
    let be = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Width and height attributes of an SVG's root element.
fn svg_size(path: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find("<svg")
        .unwrap_or_else(|| panic!("{}: no <svg>", path.display()));
    let tag = &text[start..start + text[start..].find('>').unwrap()];
    let attr = |name: &str| -> u32 {
        let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
    };
    assert!(
        text.trim_end().ends_with("</svg>"),
        "{}: truncated",
        path.display()
    );
    (attr("width"), attr("height"))
}

#[test]
fn report_plots_every_run_and_compares_pipelines_and_its_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    // Two seeds of one pipeline and another pipeline with fewer triggers.
    let mut runs = Vec::new();
    for (name, seed, every) in [("a", 7, 500), ("a", 8, 500), ("b", 7, 1_200)] {
        let text = config("csv", every)
            .replace("name = \"it\"", &format!("name = \"{name}\""))
            .replace("seed = 7", &format!("seed = {seed}"));
        let cfg = write_config(dir.path(), &format!("{name}{seed}.toml"), &text);
        let out = dir.path().join(format!("{name}-seed{seed}"));
        run_ok(&cfg, &out, "1");
        runs.push(out);
    }
    let report = dir.path().join("report");
    let mut args = vec!["report"];
    args.extend(runs.iter().map(|r| r.to_str().unwrap()));
    args.extend(["--out", report.to_str().unwrap()]);
    let o = sluice(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(
            "report of 3 run(s): 28 plot files (accuracy on hyperplane_test.csv, handler serving)"
        ),
        "{}",
        stdout(&o)
    );
    let mut stems = vec![
        "compare-cost-vs-metric".to_string(),
        "compare-triggers-vs-metric".to_string(),
    ];
    for r in &runs {
        let name = r.file_name().unwrap().to_str().unwrap();
        for plot in ["metric", "heatmap", "cost", "triggers"] {
            stems.push(format!("{name}-{plot}"));
        }
    }
    for stem in &stems {
        assert_eq!(
            png_size(&report.join(format!("{stem}.png"))),
            (WIDTH, HEIGHT),
            "{stem}"
        );
        assert_eq!(
            svg_size(&report.join(format!("{stem}.svg"))),
            (WIDTH, HEIGHT),
            "{stem}"
        );
    }
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    for r in &runs {
        let name = r.file_name().unwrap().to_str().unwrap();
        assert!(
            html.contains(&format!("<a href=\"#{name}\">{name}</a>")),
            "{name}"
        );
    }
    // The table's time-weighted accuracy is the run summary's aggregate.
    let agg = aggregate(
        &summary(&runs[2]),
        "serving",
        "currently_active",
        "accuracy",
    )["time_weighted_avg"]
        .as_f64()
        .unwrap();
    assert!(html.contains(&format!("<td>{agg:.4}</td>")), "{agg}");

    if let Some(bin) = chromium() {
        let profile = tempfile::tempdir().unwrap();
        let o = headless(&bin, profile.path(), 10_000)
            .arg("--dump-dom")
            .arg(format!("file://{}", report.join("index.html").display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let images = 3 * 4 + 2;
        assert!(
            dom.contains(&format!("data-images=\"{images}/{images}\"")),
            "not every image loaded: {}",
            &dom[..dom.len().min(400)]
        );
        assert!(dom.contains("<table id=\"summary\">"));
    }

    // A run directory missing a file: `report` names it.
    std::fs::remove_file(runs[1].join("triggers.jsonl")).unwrap();
    let o = sluice(&[
        "report",
        runs[1].to_str().unwrap(),
        "--out",
        dir.path().join("r2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("missing triggers.jsonl"),
        "{}",
        stderr(&o)
    );
    let o = sluice(&["report", dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("missing summary.json"),
        "{}",
        stderr(&o)
    );
}

/// Regression (#24): a run whose name holds a `.` (a pipeline `v1.2`, whose default run
/// directory is `v1.2-<date>`) had every plot written to one file (`v1.png`, the extension
/// replacing `.2-metric`), and index.html linked to files that did not exist.
#[test]
fn a_run_name_with_a_dot_gets_a_file_per_plot() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 3_000, "csv");
    let cfg = write_config(dir.path(), "v.toml", &config("csv", 500));
    let run = dir.path().join("v1.2");
    run_ok(&cfg, &run, "1");
    let report = dir.path().join("report");
    let o = sluice(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for plot in ["metric", "heatmap", "cost", "triggers"] {
        for ext in ["png", "svg"] {
            let file = report.join(format!("v1.2-{plot}.{ext}"));
            assert!(file.is_file(), "{} missing", file.display());
        }
    }
    // Every file index.html links to is there.
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    let mut links = 0;
    for part in html
        .split("src=\"")
        .skip(1)
        .chain(html.split("href=\"").skip(1))
    {
        let target = &part[..part.find('"').unwrap()];
        if target.starts_with('#') {
            continue;
        }
        links += 1;
        assert!(
            report.join(target).is_file(),
            "index.html links to missing {target}"
        );
    }
    assert_eq!(links, 8, "4 figures, each a PNG and an SVG link");
}

/// `--pooled` compares pipelines on a slicing handler's pooled metric: the table shows each
/// run's `prequential` value and the comparison's axis says so; a handler without one is a
/// usage error naming it.
#[test]
fn report_pooled_compares_on_the_pooled_metric() {
    let dir = tempfile::tempdir().unwrap();
    prepare(dir.path(), 2_500, "csv");
    let mut runs = Vec::new();
    for (name, every) in [("a", 400), ("b", 900)] {
        let text = config("csv", every)
            .replace("name = \"it\"", &format!("name = \"{name}\""))
            .replace(
                "[evaluation]\npath = \"hyperplane_test.csv\"\n",
                "[[evaluation.datasets]]\npath = \"hyperplane_test.csv\"\n\n\
                 [[evaluation.handlers]]\nname = \"pooled\"\nexecution_time = \"after_pipeline\"\n\
                 models = \"active\"\nstrategy = { type = \"slicing\", eval_every = \"60s\" }\n",
            );
        let cfg = write_config(dir.path(), &format!("{name}.toml"), &text);
        let out = dir.path().join(name);
        run_ok(&cfg, &out, "1");
        runs.push(out);
    }
    let report = dir.path().join("report");
    let focus = [
        "--handler",
        "pooled",
        "--dataset",
        "hyperplane_test.csv",
        "--metric",
        "accuracy",
        "--pooled",
    ];
    let mut args = vec![
        "report",
        runs[0].to_str().unwrap(),
        runs[1].to_str().unwrap(),
    ];
    args.extend(["--out", report.to_str().unwrap()]);
    args.extend(focus);
    let o = sluice(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("<th>pooled (in service)</th>"));
    for r in &runs {
        let pooled =
            aggregate(&summary(r), "pooled", "currently_active", "accuracy")["prequential"]
                .as_f64()
                .unwrap();
        assert!(
            html.contains(&format!("<td>{pooled:.4}</td></tr>")),
            "{pooled}"
        );
    }
    let svg = std::fs::read_to_string(report.join("compare-cost-vs-metric.svg")).unwrap();
    assert!(svg.contains("pooled accuracy of the model in service"));

    // The default handler (between two triggers) pools nothing.
    let mut args = vec!["report", runs[0].to_str().unwrap()];
    let other = dir.path().join("r2");
    args.extend(["--out", other.to_str().unwrap()]);
    args.extend(["--handler", "serving", "--dataset", "hyperplane_test.csv"]);
    args.extend(["--metric", "accuracy", "--pooled"]);
    let o = sluice(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--pooled: no run has a pooled accuracy for handler `serving`"),
        "{}",
        stderr(&o)
    );
}

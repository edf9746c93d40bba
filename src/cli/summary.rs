//! What the summary lines of `run` and `evaluate` say about the model in service.

/// `; <metric> of the model in service …` for the summary line: the first currently-active
/// aggregate, or nothing.
pub fn in_service(e: &sluice::eval::EvalReport) -> String {
    e.aggregates
        .iter()
        .find(|a| a.composite == "currently_active" && a.intervals > 0)
        .map(|a| {
            format!(
                "; {} of the model in service {:.3} (time-weighted over {} intervals of `{}` on {})",
                a.metric, a.time_weighted_avg, a.intervals, a.handler, a.dataset
            )
        })
        .unwrap_or_default()
}

"""What the experiments' summarize.py scripts share: mean ± sd cells and the time-weighted
aggregates of a run's summary.json. Imported by putting experiments/ on sys.path."""

import statistics


def pm(values, digits=3):
    """`mean ± sd` (just the mean for one value)."""
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def aggregate(summary, handler, composite, metric, field="time_weighted_avg"):
    """`field` (the time-weighted average, or `prequential`) of `metric` for a handler's
    composite model, or None."""
    for a in summary["evaluation"]["aggregates"]:
        if (a["handler"], a["composite"], a["metric"]) == (handler, composite, metric):
            return a.get(field)
    return None

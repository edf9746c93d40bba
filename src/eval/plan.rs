//! Evaluation handlers (`[[evaluation.handlers]]`, Modyn's `EvalHandlerConfig`): when they run,
//! which models they evaluate, on which intervals; and the evaluation requests they make.

use super::strategy::{Interval, composites};
use crate::config::{Handler, ModelChoice};
use crate::train::TrainedModel;

/// One model on one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Index into the models.
    pub model: usize,
    /// The interval.
    pub interval: Interval,
    /// The model is the interval's currently-active model (`None`: not known, after training).
    pub currently_active: Option<bool>,
    /// The model is the interval's currently-trained model.
    pub currently_trained: Option<bool>,
}

// The handler's behaviour; the type is config's (a checked spec).
impl Handler {
    /// Requests right after `models[model]` was trained (an `after_training` handler; the
    /// composites are not known yet: later models may still be trained before an interval).
    pub fn after_training(
        &self,
        models: &[TrainedModel],
        model: usize,
        data: Option<(u64, u64)>,
    ) -> Vec<Request> {
        let m = &models[model];
        self.strategy
            .intervals(&[(m.first, m.last)], data)
            .into_iter()
            .map(|interval| Request {
                model,
                interval,
                currently_active: None,
                currently_trained: None,
            })
            .collect()
    }

    /// Requests over every model (`after_pipeline` and `manual` handlers): the matrix, or the
    /// composite the handler asks for, with both composite flags set.
    pub fn after_pipeline(
        &self,
        models: &[TrainedModel],
        data: Option<(u64, u64)>,
    ) -> Vec<Request> {
        let trainings: Vec<(u64, u64)> = models.iter().map(|m| (m.first, m.last)).collect();
        let lasts: Vec<u64> = models.iter().map(|m| m.last).collect();
        let mut out = Vec::new();
        for interval in self.strategy.intervals(&trainings, data) {
            let (active, trained) = composites(&lasts, &interval);
            for model in 0..models.len() {
                let (a, t) = (active == Some(model), trained == Some(model));
                let wanted = match self.models {
                    ModelChoice::Matrix => true,
                    ModelChoice::Active => a,
                    ModelChoice::Training => t,
                };
                if wanted {
                    out.push(Request {
                        model,
                        interval,
                        currently_active: Some(a),
                        currently_trained: Some(t),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Execution, Offset, Strategy};

    fn models() -> Vec<TrainedModel> {
        [(0, 9), (10, 19), (20, 29)]
            .iter()
            .enumerate()
            .map(|(i, &(first, last))| TrainedModel {
                id: format!("m{i}"),
                trigger: i as u64,
                first,
                last,
            })
            .collect()
    }

    fn handler(models: ModelChoice) -> Handler {
        Handler {
            name: "h".into(),
            execution: Execution::AfterPipeline,
            models,
            strategy: Strategy::BetweenTwoTriggers,
            datasets: vec![0],
        }
    }

    #[test]
    fn the_matrix_flags_each_intervals_composites_and_the_choices_pick_them() {
        let m = models();
        let matrix = handler(ModelChoice::Matrix).after_pipeline(&m, Some((0, 39)));
        // 3 models x 4 intervals (3 trigger intervals + the tail).
        assert_eq!(matrix.len(), 12);
        let active: Vec<(usize, u64)> = matrix
            .iter()
            .filter(|r| r.currently_active == Some(true))
            .map(|r| (r.model, r.interval.start))
            .collect();
        // The first interval has no model in service; later each is served by its predecessor.
        assert_eq!(active, [(0, 10), (1, 20), (2, 30)]);
        let trained: Vec<(usize, u64)> = matrix
            .iter()
            .filter(|r| r.currently_trained == Some(true))
            .map(|r| (r.model, r.interval.start))
            .collect();
        assert_eq!(trained, [(0, 0), (1, 10), (2, 20), (2, 30)]);
        let only_active = handler(ModelChoice::Active).after_pipeline(&m, Some((0, 39)));
        assert_eq!(
            only_active,
            matrix
                .iter()
                .copied()
                .filter(|r| r.currently_active == Some(true))
                .collect::<Vec<_>>()
        );
        let only_trained = handler(ModelChoice::Training).after_pipeline(&m, Some((0, 39)));
        assert_eq!(only_trained.len(), 4);
    }

    #[test]
    fn after_training_evaluates_the_new_model_on_its_own_intervals() {
        let m = models();
        let h = Handler {
            strategy: Strategy::Offset(vec![Offset::Same]),
            execution: Execution::AfterTraining,
            ..handler(ModelChoice::Matrix)
        };
        let r = h.after_training(&m, 1, Some((0, 39)));
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].model, r[0].interval.start, r[0].interval.end),
            (1, 10, Some(20))
        );
        assert_eq!(r[0].currently_active, None);
    }
}

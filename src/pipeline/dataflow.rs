//! The per-worker dataflow graph.
//!
//! ```text
//! input (this worker's share of the file, by event time)
//!   └─ exchange by key ─> Store: Samples (payload -> sample store, emits SampleMeta)
//!        ├─> Trigger: <policy> (worker 0) ─> triggers.jsonl
//!        └─> Selection: <strategy> (per worker) ─> AssembleTrainingSets (worker 0)
//!                                                   └─> Sink: Trainer (bounded queue)
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, Trigger};
use sluice_dataflows::{Time, TrainingSet, TriggerEvent, route};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Exchange, Inspect, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope};

use super::run::Shared;
use crate::config::{SelectionSpec, TriggerSpec};
use crate::sink::EventBody;
use crate::source::{DeadLetter, Sample};

/// Builds the graph on one worker; `trainer` is the training queue (worker 0 only).
/// Also returns the triggers this worker has seen (broadcast to every worker), for the source
/// loop to record restart offsets.
pub fn build(
    scope: Scope<'_, Time>,
    shared: &Arc<Shared>,
    trainer: Option<SyncSender<TrainingSet>>,
) -> (
    InputHandleVec<Time, Sample>,
    ProbeHandle<Time>,
    SeenTriggers,
) {
    let (input, samples) = scope.new_input::<Sample>();

    let store = shared.clone();
    let metas = samples.exchange(|s: &Sample| route(s.key)).unary(
        Pipeline,
        "Store: Samples",
        move |_cap, _info| {
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data {
                        let rejected = store.samples.insert(
                            batch
                                .iter()
                                .map(|s| (s.key, s.label, s.features.as_slice())),
                        );
                        for (key, reason) in &rejected {
                            store.dead_letter(DeadLetter {
                                location: format!("{} key {key}", store.source.name()),
                                reason: reason.to_string(),
                                raw: String::new(),
                            });
                        }
                        store.count_ingested(batch.len() - rejected.len());
                        session.give_iterator(
                            batch
                                .drain(..)
                                .filter(|s| !rejected.iter().any(|(k, _)| *k == s.key))
                                .map(|s| s.meta()),
                        );
                    }
                });
            }
        },
    );

    let triggers = match shared.spec.trigger {
        TriggerSpec::Amount { every } => metas
            .clone()
            .trigger_from(DataAmount::new(every), shared.first_trigger_id),
    };
    let events = shared.clone();
    let triggers = triggers.inspect(move |t| {
        events.count_trigger();
        events.emit(
            format!("trigger-{}", t.id),
            EventBody::Trigger {
                trigger_id: t.id,
                first: t.first,
                boundary: t.boundary,
                samples: t.samples,
                reason: t.reason.clone(),
            },
        );
    });

    let seen: SeenTriggers = Rc::default();
    let seen_here = seen.clone();
    triggers
        .clone()
        .broadcast()
        .inspect(move |t| seen_here.borrow_mut().push(t.clone()));

    let selected = match shared.spec.selection {
        SelectionSpec::NewData => metas.select(triggers.clone(), NewData::default()),
    };
    let (probe, sets) = selected.training_sets(triggers).probe();
    let sink = shared.clone();
    sets.sink(Pipeline, "Sink: Trainer", move |(input, _frontier)| {
        input.for_each(|_cap, data| {
            for set in data.drain(..) {
                let tx = trainer
                    .as_ref()
                    .expect("training sets are assembled on worker 0, which holds the queue");
                // Blocks while the queue is full: backpressure on ingestion.
                if tx.send(set).is_err() {
                    sink.fail("the trainer stopped; see its error".into());
                }
            }
        });
    });
    (input, probe, seen)
}

/// Triggers a worker has seen and not yet handled.
pub type SeenTriggers = Rc<RefCell<Vec<TriggerEvent>>>;

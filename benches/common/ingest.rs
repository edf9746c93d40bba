//! The ingest graph the ingest benches run (shared by `kafka_ingest` and `stage_clock`):
//! exchange by key, the sample store, an amount trigger every 10,000 samples, new-data
//! selection and training-set assembly, probed at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sluice::source::Sample;
use sluice::store::SampleStore;
use sluice_dataflows::selection::{AssembleTrainingSets, NewData, Select};
use sluice_dataflows::triggers::{DataAmount, TriggerCounted, TriggerOptions};
use sluice_dataflows::{Time, route};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Exchange, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle, Scope};

/// Builds the graph in `scope`; `ingested` counts the samples stored.
pub fn ingest_graph(
    scope: Scope<'_, Time>,
    store: Arc<SampleStore>,
    ingested: Arc<AtomicU64>,
) -> (InputHandleVec<Time, Sample>, ProbeHandle<Time>) {
    let (input, samples) = scope.new_input::<Sample>();
    let metas = samples.exchange(|s: &Sample| route(s.key)).unary(
        Pipeline,
        "Store: Samples",
        move |_, _| {
            move |input, output| {
                input.for_each_stamp(|cap, data| {
                    let mut session = output.session(&cap);
                    for batch in data {
                        let rejected = store.insert(
                            batch
                                .iter()
                                .map(|s| (s.key, s.label, s.features.as_slice())),
                        );
                        assert!(rejected.is_empty());
                        ingested.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        session.give_iterator(batch.drain(..).map(|s| s.meta()));
                    }
                });
            }
        },
    );
    // As a run's amount trigger: counted, a tally per worker and time to worker 0.
    let triggers = metas
        .clone()
        .trigger_counted(Box::new(DataAmount::new(10_000)), TriggerOptions::default())
        .triggers;
    let sets = metas
        .select(triggers.clone(), NewData::default())
        .training_sets(triggers);
    let (probe, _) = sets.probe();
    (input, probe)
}

//! Ship: training-set payloads. With keys on every process's workers
//! ([`RunContext::owners`]), a training set's samples are stored where their keys live, and
//! the trainer runs in the leader. So each set, assembled on worker 0, travels through three
//! operators before the trainer sink:
//!
//! ```text
//! sets (worker 0) ─┬─ Ship: Requests ── exchange to each other process's first worker
//!                  │     └─ Ship: Payloads (copies its process's samples of the set out of
//!                  │          the store; the set is done for that store's retirements)
//!                  │          └─ exchange to worker 0
//!                  └────────────────────────────── Ship: Deliver (worker 0: the set, once
//!                                                   every process's share arrived, with the
//!                                                   shipped samples in a store of their own)
//! ```
//!
//! One request per process and set, even an empty one: every process answers every set, so
//! worker 0 counts answers instead of waiting for frontiers, and each process learns when a
//! set has left it. The bytes shipped are each trigger's `shipped_bytes` metric. The shipped
//! store lives until the trainer is done with the set.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sluice_dataflows::selection::JoinAnswers;
use sluice_dataflows::{Position, Time, TrainingSet, owner};
use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;

use super::context::RunContext;
use crate::store::{Rows, SampleStore};
use crate::train::Delivery;

/// Worker 0's request to a process for its samples of a set.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Request {
    /// The process's first worker (global index), which answers for the process.
    worker: usize,
    trigger: u64,
    positions: Vec<Position>,
}

/// A process's samples of a set: the trigger, and the samples.
type Shipment = (u64, Rows);

/// Lane `l`'s training sets as the trainer takes them: in one process, or with keys only on
/// the leader's workers, as they are; else with the other processes' samples shipped.
pub fn ship<'scope>(
    sets: StreamVec<'scope, Time, TrainingSet>,
    shared: &Arc<RunContext>,
    l: usize,
) -> StreamVec<'scope, Time, Delivery> {
    if !shared.sharded() {
        return sets.map(Delivery::from);
    }
    let topology = &shared.topology;
    let (threads, owners) = (topology.threads, shared.owners());
    let requests =
        sets.clone().unary(Pipeline, "Ship: Requests", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for set in data.drain(..) {
                        let mut by_process = vec![Vec::new(); owners / threads];
                        for p in &set.samples {
                            by_process[owner(p.key, owners) / threads].push(*p);
                        }
                        let requests = by_process.into_iter().enumerate().skip(1).map(
                            |(process, positions)| Request {
                                worker: process * threads,
                                trigger: set.trigger.id,
                                positions,
                            },
                        );
                        session.give_iterator(requests);
                    }
                });
            }
        });
    let shipments = payloads(requests, shared.samples.clone(), l, shared);
    deliver(sets, shipments, shared, l)
}

/// Ship: Payloads. Each request's samples, copied out of this process's store; afterwards
/// the store may let go of what the lane retired up to that trigger.
fn payloads<'scope>(
    requests: StreamVec<'scope, Time, Request>,
    samples: Arc<SampleStore>,
    l: usize,
    shared: &Arc<RunContext>,
) -> StreamVec<'scope, Time, Shipment> {
    let failure = shared.failure.clone();
    requests.unary(
        Exchange::new(|r: &Request| r.worker as u64),
        "Ship: Payloads",
        move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for r in data.drain(..) {
                        let rows = samples.copy_out(&r.positions).unwrap_or_else(|e| {
                            // The selection holds them until the set is shipped: a bug.
                            failure.fail(format!(
                                "shipping trigger {}'s training set: {e}",
                                r.trigger
                            ));
                            Rows::default()
                        });
                        samples.trained(l, r.trigger);
                        session.give((r.trigger, rows));
                    }
                });
            }
        },
    )
}

/// Ship: Deliver (worker 0). Each set once every other process's share of it arrived, with
/// the shares in a store of their own.
fn deliver<'scope>(
    sets: StreamVec<'scope, Time, TrainingSet>,
    shipments: StreamVec<'scope, Time, Shipment>,
    shared: &Arc<RunContext>,
    l: usize,
) -> StreamVec<'scope, Time, Delivery> {
    let others = shared.topology.processes - 1;
    let dim = shared.samples.dim();
    let metrics = shared.writer(l);
    let failure = shared.failure.clone();
    let (counters, samples) = (shared.counters.clone(), shared.samples.clone());
    sets.join_answers(
        shipments,
        "Ship: Deliver",
        others,
        |all: &mut Rows, mut rows| all.append(&mut rows),
        move |set, rows| {
            let id = set.trigger.id;
            metrics.metric(id, "shipped_samples", rows.len() as f64);
            metrics.metric(id, "shipped_bytes", rows.bytes() as f64);
            let store = SampleStore::new(dim, 1).counted(counters.shipped.clone());
            if let Some((i, e)) = store.insert_from(rows.stored(dim)).first() {
                failure.fail(format!(
                    "trigger {id}'s shipped sample {:?}: {e}",
                    rows.positions[*i]
                ));
            }
            counters.note_stored(samples.len());
            Delivery {
                set,
                shipped: Some(Arc::new(store)),
            }
        },
    )
}

//! Ship: training-set payloads. With keys on every process's workers
//! ([`RunContext::owners`]), a training set's samples are stored where their keys live, and
//! the trainer runs in the leader. Each set, assembled on worker 0, goes to the trainer's
//! queue at once, with a [`Shipped`] end; its samples travel only when the trainer takes it
//! and asks:
//!
//! ```text
//! sets (worker 0) ─┬─ to the trainer's queue, each with its Shipped end
//!                  ├─ Ship: Requests (held until the trainer asks) ── exchange to each other
//!                  │     process's first worker
//!                  │     └─ Ship: Payloads (copies its process's samples of the set out of
//!                  │          the store; the set is done for that store's retirements)
//!                  │          └─ exchange to worker 0
//!                  └────────────────────────────── Ship: Deliver (worker 0: once every
//!                                                   process's share arrived, the shipped
//!                                                   samples in a store of their own, to the
//!                                                   trainer)
//! ```
//!
//! So process 0 holds the other processes' samples of the set being trained only, not of
//! every set queued (each process keeps its share of a queued set, as one process keeps all
//! of it), and the trainer waits one round trip per set. One request per process and set,
//! even an empty one: every process answers every set, so worker 0 counts answers instead of
//! waiting for frontiers, and each process learns when a set has left it. The bytes shipped
//! are each trigger's `shipped_bytes` metric. The shipped store lives until the trainer is
//! done with the set.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, mpsc};

use serde::{Deserialize, Serialize};
use sluice_dataflows::selection::JoinAnswers;
use sluice_dataflows::{Position, Time, TrainingSet, owner};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Capability, Probe};
use timely::dataflow::{ProbeHandle, StreamVec};
use timely::scheduling::SyncActivator;

use super::context::RunContext;
use crate::source::Rows;
use crate::store::SampleStore;
use crate::train::{Delivery, Shipped};

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
/// the leader's workers, as they are; else each with its [`Shipped`] end, whose samples are
/// requested when the trainer asks. `done` follows the shipments: it is done once every set
/// that went to the trainer was shipped.
pub fn ship<'scope>(
    sets: StreamVec<'scope, Time, TrainingSet>,
    shared: &Arc<RunContext>,
    l: usize,
    done: &ProbeHandle<Time>,
) -> StreamVec<'scope, Time, Delivery> {
    if !shared.sharded() {
        return sets.map(Delivery::from);
    }
    let (asks, asked) = mpsc::channel::<u64>();
    let waker: Rc<OnceCell<SyncActivator>> = Rc::default();
    let requests = requests(sets.clone(), shared, asked, &waker);
    let shipments = payloads(requests, shared.samples.clone(), l, shared);
    let arrivals = Arrivals::default();
    deliver(sets.clone(), shipments, shared, l, arrivals.clone()).probe_with(done);
    sets.map(move |set| {
        let (to, arrives) = mpsc::channel();
        let id = set.trigger.id;
        arrivals.borrow_mut().insert(id, to);
        let asks = asks.clone();
        let waker = waker.get().expect("Ship: Requests is built first").clone();
        let ask = move || {
            // Both fail only once the dataflow is gone; the trainer then learns it from
            // its shipment's closed channel.
            let _ = asks.send(id);
            let _ = waker.activate();
        };
        Delivery {
            set,
            shipped: Some(Shipped::new(ask, arrives)),
        }
    })
}

/// Per trigger, where its shipment goes once it arrived (worker 0).
type Arrivals = Rc<RefCell<HashMap<u64, mpsc::Sender<Arc<SampleStore>>>>>;

/// Ship: Requests (worker 0). Each set's requests, one per other process, held until the
/// trainer asks for the set (`asked`, with `waker` scheduling the operator).
fn requests<'scope>(
    sets: StreamVec<'scope, Time, TrainingSet>,
    shared: &Arc<RunContext>,
    asked: mpsc::Receiver<u64>,
    waker: &Rc<OnceCell<SyncActivator>>,
) -> StreamVec<'scope, Time, Request> {
    let (threads, owners) = (shared.topology.threads, shared.owners());
    let worker = sets.scope().worker();
    sets.unary(Pipeline, "Ship: Requests", move |_, info| {
        let _ = waker.set(worker.sync_activator_for(info.address.to_vec()));
        let mut held: Vec<(u64, Capability<Time>, Vec<Request>)> = Vec::new();
        let mut wanted = HashSet::new();
        move |input, output| {
            input.for_each(|cap, data| {
                for set in data.drain(..) {
                    let mut by_process = vec![Vec::new(); owners / threads];
                    for p in &set.samples {
                        by_process[owner(p.key, owners) / threads].push(*p);
                    }
                    let id = set.trigger.id;
                    let requests =
                        by_process
                            .into_iter()
                            .enumerate()
                            .skip(1)
                            .map(|(process, positions)| Request {
                                worker: process * threads,
                                trigger: id,
                                positions,
                            });
                    let at = cap.retain_least(0).expect("a batch has a time");
                    held.push((id, at, requests.collect()));
                }
            });
            wanted.extend(asked.try_iter());
            held.retain_mut(|(id, cap, requests)| {
                if !wanted.remove(id) {
                    return true;
                }
                output.session(cap).give_iterator(requests.drain(..));
                false
            });
        }
    })
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

/// Ship: Deliver (worker 0). Each set's shipment, once every other process's share of it
/// arrived: the shares in a store of their own, sent to the trainer. Emits the set's trigger.
fn deliver<'scope>(
    sets: StreamVec<'scope, Time, TrainingSet>,
    shipments: StreamVec<'scope, Time, Shipment>,
    shared: &Arc<RunContext>,
    l: usize,
    arrivals: Arrivals,
) -> StreamVec<'scope, Time, u64> {
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
            if let Some((i, e)) = store.insert_from(rows.stored()).first() {
                failure.fail(format!(
                    "trigger {id}'s shipped sample {:?}: {e}",
                    rows.meta(*i).position()
                ));
            }
            counters.note_stored(samples.len());
            if let Some(to) = arrivals.borrow_mut().remove(&id) {
                // Fails only if the trainer stopped.
                let _ = to.send(Arc::new(store));
            }
            id
        },
    )
}

//! Sharing devices between the trainers of a sweep: on each device one training at a time,
//! in the order the trainers asked for it (a ticket lock per device). A trainer asks again
//! after each trigger's training, so with `n` variants waiting, each trains at least once in
//! every `n` trainings on the device: none starves, and a variant with long trainings delays
//! the others by one training at most.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

/// The turn-taking of a sweep's trainers, per device.
#[derive(Debug, Default)]
pub struct DeviceGate {
    queues: Mutex<HashMap<String, Tickets>>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Tickets {
    /// The next ticket handed out.
    next: u64,
    /// The ticket whose turn it is.
    serving: u64,
}

/// A trainer's turn on a device, until dropped.
#[must_use = "the turn ends when dropped"]
pub struct Turn<'a> {
    gate: &'a DeviceGate,
    device: String,
}

impl DeviceGate {
    /// Waits for a turn on `device` (after those who asked before).
    pub fn turn(&self, device: &str) -> Turn<'_> {
        let mut queues = self.queues.lock().expect("device gate poisoned");
        let q = queues.entry(device.to_string()).or_default();
        let ticket = q.next;
        q.next += 1;
        while queues[device].serving != ticket {
            queues = self.changed.wait(queues).expect("device gate poisoned");
        }
        Turn {
            gate: self,
            device: device.to_string(),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut queues = self.gate.queues.lock().expect("device gate poisoned");
        if let Some(q) = queues.get_mut(&self.device) {
            q.serving += 1;
        }
        self.gate.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn turns_go_in_the_order_asked_and_devices_are_independent() {
        let gate = Arc::new(DeviceGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let first = gate.turn("cpu");
        let other_device = gate.turn("cuda:0");
        drop(other_device);
        // Three trainers ask in order 0, 1, 2 while the device is busy.
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let (mine, order) = (gate.clone(), order.clone());
                let h = std::thread::spawn(move || {
                    let _turn = mine.turn("cpu");
                    order.lock().unwrap().push(i);
                    std::thread::sleep(Duration::from_millis(5));
                });
                // Wait until this trainer holds its ticket before the next asks.
                while gate.queues.lock().unwrap()["cpu"].next < i + 2 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                h
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody trains during a turn"
        );
        drop(first);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        // Free again: a turn comes at once.
        drop(gate.turn("cpu"));
    }
}

//! Mini-batches of a training set, resolved from the sample store by a prefetch thread.
//!
//! The trainer never materialises the whole training set: a loader thread gathers the payloads
//! of the next batches (in the epoch's order) into host buffers while the current batch trains,
//! up to `depth` batches ahead. Buffers travel back to the loader after use, so steady state
//! allocates nothing per batch on the Rust side (libtorch copies each batch into its tensor,
//! on the training device).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sluice_dataflows::Key;
use tch::{Device, Tensor};

use crate::store::{SampleStore, StoreError};

/// A batch's host buffers: features row-major and labels, plus its keys.
#[derive(Default)]
pub struct HostBatch {
    /// Features, `keys.len() * dim` values.
    pub x: Vec<f32>,
    /// Labels.
    pub y: Vec<i64>,
    /// Sample keys in batch order.
    pub keys: Vec<Key>,
}

/// One mini-batch on the training device.
pub struct Batch {
    /// Features `[n, dim]`.
    pub x: Tensor,
    /// Labels `[n]`.
    pub y: Tensor,
    /// Sample keys in batch order (for per-sample feedback).
    pub keys: Vec<Key>,
}

/// Gathers the batches of one pass over `order` on its own thread.
pub struct BatchLoader {
    rx: Option<Receiver<Result<HostBatch, StoreError>>>,
    recycle: SyncSender<HostBatch>,
    thread: Option<JoinHandle<()>>,
    dim: i64,
    device: Device,
}

impl BatchLoader {
    /// Starts gathering `order` (sample keys, already shuffled) in batches of `batch_size`,
    /// up to `depth` batches ahead.
    pub fn start(
        store: Arc<SampleStore>,
        order: Vec<Key>,
        batch_size: usize,
        depth: usize,
        device: Device,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(depth.max(1));
        let (recycle, spare) = sync_channel::<HostBatch>(depth.max(1) + 2);
        let dim = store.dim() as i64;
        let thread = std::thread::Builder::new()
            .name("sluice-loader".into())
            .spawn(move || {
                for chunk in order.chunks(batch_size.max(1)) {
                    let mut b = spare.try_recv().unwrap_or_default();
                    b.x.clear();
                    b.y.clear();
                    b.keys.clear();
                    b.keys.extend_from_slice(chunk);
                    let r = store.gather(chunk, &mut b.x, &mut b.y).map(|()| b);
                    let failed = r.is_err();
                    // A closed channel: the trainer stopped this pass early.
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self {
            rx: Some(rx),
            recycle,
            thread: Some(thread),
            dim,
            device,
        })
    }

    /// The next batch, or `None` after the last.
    pub fn next_batch(&mut self) -> Option<Result<Batch, StoreError>> {
        let host = match self.rx.as_ref()?.recv().ok()? {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let n = host.keys.len() as i64;
        let x = Tensor::from_slice(&host.x)
            .view([n, self.dim])
            .to_device(self.device);
        let y = Tensor::from_slice(&host.y).to_device(self.device);
        let keys = host.keys.clone();
        // Full: the loader has enough spares; drop this one.
        let _ = self.recycle.try_send(host);
        Some(Ok(Batch { x, y, keys }))
    }
}

impl Drop for BatchLoader {
    fn drop(&mut self) {
        // Closing the channel stops a loader blocked on a full queue.
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_follow_the_order_and_stop_early_cleanly() {
        let store = Arc::new(SampleStore::new(2, 2));
        let feats: Vec<[f32; 2]> = (0..10).map(|k| [k as f32, -(k as f32)]).collect();
        assert!(
            store
                .insert((0..10u64).map(|k| (k, k as i64 % 3, &feats[k as usize][..])))
                .is_empty()
        );
        let order = vec![7, 3, 9, 0, 1, 2, 8];
        let mut l = BatchLoader::start(store.clone(), order.clone(), 3, 2, Device::Cpu).unwrap();
        let mut seen = Vec::new();
        while let Some(b) = l.next_batch() {
            let b = b.unwrap();
            let x: Vec<f32> = Vec::try_from(b.x.flatten(0, -1)).unwrap();
            let y: Vec<i64> = Vec::try_from(&b.y).unwrap();
            for (i, k) in b.keys.iter().enumerate() {
                assert_eq!(x[2 * i], *k as f32);
                assert_eq!(y[i], *k as i64 % 3);
            }
            seen.extend(b.keys);
        }
        assert_eq!(seen, order);
        // Dropped after one batch: the thread stops.
        let mut l = BatchLoader::start(store.clone(), order, 1, 1, Device::Cpu).unwrap();
        assert!(l.next_batch().is_some());
        drop(l);
        // A missing key is an error, not a panic.
        let mut l = BatchLoader::start(store, vec![1, 99], 2, 1, Device::Cpu).unwrap();
        assert!(matches!(
            l.next_batch(),
            Some(Err(StoreError::MissingKey(99)))
        ));
        assert!(l.next_batch().is_none());
    }
}

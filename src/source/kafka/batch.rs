//! Taking queued messages from librdkafka in batches (`rd_kafka_consume_batch_queue`).
//!
//! rust-rdkafka has no batch poll: `BaseConsumer::poll` returns one message per call, reads the
//! clock and allocates for each, and its message type cannot wrap the messages librdkafka's
//! batch call returns (its constructors are crate-private). Consuming a topic of JSON samples
//! that way costs about 1.1 CPU-seconds per million messages; taking up to 4,096 per call
//! through rdkafka-sys, 0.55 (experiments/results/kafka_ingest.md). This is one of the project's
//! two modules with `unsafe` code (the workspace denies it elsewhere; the other is
//! `allocator.rs`): every pointer it reads comes from librdkafka and is released exactly once
//! here.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::marker::PhantomData;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// A consumer's message queue, read in batches. Must be dropped before its consumer (the
/// reader declares it first).
pub struct BatchQueue {
    queue: *mut rd::rd_kafka_queue_t,
    /// Messages taken from librdkafka and not handed out yet: `slots[next..len]`.
    slots: Vec<*mut rd::rd_kafka_message_t>,
    next: usize,
    len: usize,
}

// SAFETY: the queue handle and the messages are librdkafka objects that may be used from any
// thread; the queue is used by one thread at a time (`&mut self`).
unsafe impl Send for BatchQueue {}

impl BatchQueue {
    /// The message queue of `consumer`, read `capacity` messages at a time at most. The
    /// consumer has a `group.id`, so rust-rdkafka forwarded librdkafka's main queue to it and
    /// its messages and errors all arrive there.
    pub fn of(consumer: &BaseConsumer, capacity: usize) -> Option<Self> {
        // SAFETY: the client pointer is valid while `consumer` lives; the queue reference
        // returned is ours, released in `drop`.
        let queue = unsafe { rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
        (!queue.is_null()).then(|| Self {
            queue,
            slots: vec![std::ptr::null_mut(); capacity.max(1)],
            next: 0,
            len: 0,
        })
    }

    /// The next message: one already taken, else those queued now, else the first to arrive
    /// within `wait` (`None` when none did).
    pub fn next(&mut self, wait: Duration) -> Option<RawMessage<'_>> {
        if self.next == self.len && !self.fill(Duration::ZERO) && !self.fill(wait) {
            return None;
        }
        let ptr = self.slots[self.next];
        self.next += 1;
        Some(RawMessage {
            ptr,
            _queue: PhantomData,
        })
    }

    /// Takes up to a batch of queued messages, waiting up to `wait` for them; whether any came.
    fn fill(&mut self, wait: Duration) -> bool {
        let timeout = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `slots` has room for `slots.len()` pointers; librdkafka writes that many at
        // most and returns how many (or -1 on error).
        let got = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.queue,
                timeout,
                self.slots.as_mut_ptr(),
                self.slots.len(),
            )
        };
        self.next = 0;
        self.len = got.max(0) as usize;
        self.len > 0
    }
}

impl Drop for BatchQueue {
    fn drop(&mut self) {
        // SAFETY: the messages not handed out are still ours, as is the queue reference.
        unsafe {
            for &m in &self.slots[self.next..self.len] {
                rd::rd_kafka_message_destroy(m);
            }
            rd::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// One message taken from a [`BatchQueue`], released when dropped.
pub struct RawMessage<'q> {
    ptr: *mut rd::rd_kafka_message_t,
    _queue: PhantomData<&'q mut BatchQueue>,
}

impl RawMessage<'_> {
    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: a message librdkafka returned, not destroyed before `self` drops.
        unsafe { &*self.ptr }
    }

    /// The consumer error this message reports, if it is one.
    pub fn error(&self) -> Option<String> {
        let err = self.raw().err;
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: librdkafka returns a static, NUL-terminated description of every code.
        let text = unsafe { CStr::from_ptr(rd::rd_kafka_err2str(err)) };
        Some(text.to_string_lossy().into_owned())
    }

    /// Its partition.
    pub fn partition(&self) -> i32 {
        self.raw().partition
    }

    /// Its offset.
    pub fn offset(&self) -> i64 {
        self.raw().offset
    }

    /// Its key (`None`: none).
    pub fn key(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: `key_len` bytes at `key`, owned by the message.
        (!m.key.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.key as *const u8, m.key_len) })
    }

    /// Its value (`None`: a tombstone).
    pub fn payload(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: `len` bytes at `payload`, owned by the message.
        (!m.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.payload as *const u8, m.len) })
    }

    /// Its timestamp, Unix ms (`None`: not available).
    pub fn timestamp_ms(&self) -> Option<i64> {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a valid message; librdkafka writes the timestamp's type.
        let ms = unsafe { rd::rd_kafka_message_timestamp(self.ptr, &mut kind) };
        (kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && ms >= 0)
            .then_some(ms)
    }
}

impl Drop for RawMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: handed out once by `BatchQueue::next`, destroyed once here.
        unsafe { rd::rd_kafka_message_destroy(self.ptr) };
    }
}

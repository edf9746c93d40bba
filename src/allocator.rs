//! The process's memory allocator, set up for a stream: glibc's defaults return memory to
//! the kernel eagerly, and a streaming ingest pays for that in page faults.
//!
//! Batches of samples are allocated by the Kafka reader and freed by a worker thread, the
//! sample store's index is re-allocated at each doubling, and the trigger and selection
//! operators grow and drop their stashes at every frontier step. With glibc's defaults each
//! large block is its own `mmap` (unmapped when freed, its pages faulted in and zeroed again
//! next time) and a freed heap top is trimmed at 128 KiB. Measured with
//! `cargo bench --bench kafka_ingest -- arrow` (1 worker, 1 M samples): about a third of the
//! ingest's CPU went to page faults and unmapping; with [`tune`] the CPU-seconds per million
//! samples went from 0.44–0.46 to 0.23–0.35 (experiments/results/kafka_ingest.md).
//!
//! One of the two modules with `unsafe` code (the workspace denies it elsewhere): the one
//! `mallopt` call per parameter.
#![allow(unsafe_code)]

/// Below this size a block comes from the heap, not from its own `mmap` (glibc's largest:
/// half its 64 MiB heap size on 64-bit machines).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// A heap keeps up to this much free memory at its top before returning it.
pub const TRIM_THRESHOLD: usize = 256 << 20;
/// A heap grows by this much more than asked (address space; pages count once touched).
pub const TOP_PAD: usize = 64 << 20;

/// The glibc variables that set the same parameters: one of them set means the user chose,
/// and [`tune`] leaves the allocator as they set it.
pub const ENV: [&str; 3] = [
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
];

/// Sets glibc's `mmap` threshold, trim threshold and top pad for a long-running stream (see
/// the module's documentation); call it first thing in `main`, before threads start. Returns
/// whether it changed anything: not where the C library is not glibc, and not when one of
/// [`ENV`] is set.
pub fn tune() -> bool {
    if ENV.iter().any(|v| std::env::var_os(v).is_some()) {
        return false;
    }
    set()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set() -> bool {
    // SAFETY: mallopt only sets allocator parameters; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TOP_PAD, TOP_PAD as libc::c_int) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set() -> bool {
    false
}

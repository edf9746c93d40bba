#![no_main]
//! `cargo fuzz run arrow_file`: see sluice::fuzz::arrow_file.

libfuzzer_sys::fuzz_target!(
    init: {
        // Decoders contain some library panics on purpose (the Arrow reader's) and return them
        // as errors; libfuzzer-sys' hook would abort on those. Panics that escape still fail.
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| sluice::fuzz::arrow_file(data)
);

//! Adds an rpath to libtorch's lib directory (reported by torch-sys through its `links = "tch"`
//! key), so `sluice` binaries and tests start without LD_LIBRARY_PATH.
//!
//! Feature `cuda`: links `libtorch_cuda` even though no symbol of it is referenced. Rust links
//! with `--as-needed`, which drops it, and without its static initialisers libtorch reports no
//! CUDA device. Off by default: the CPU setup (scripts/setup.sh) installs libtorch without the
//! CUDA libraries `libtorch_cuda` needs at run time.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        // libtorch_cuda's own dependencies (cuBLAS, cuDNN, NCCL, ...) are resolved when the
        // binary starts, not at link time: a machine without them (the CPU setup) can build
        // the binary a GPU machine runs.
        println!("cargo:rustc-link-arg=-Wl,--allow-shlib-undefined");
    }
}

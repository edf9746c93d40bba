//! Adds an rpath to libtorch's lib directory (reported by torch-sys through its `links = "tch"`
//! key), so `sluice` binaries and tests start without LD_LIBRARY_PATH.
//!
//! Feature `cuda`: links `libtorch_cuda` even though no symbol of it is referenced. Rust links
//! with `--as-needed`, which drops it, and without its static initialisers libtorch reports no
//! CUDA device. Off by default: the CPU setup (scripts/setup.sh) installs libtorch without the
//! CUDA libraries `libtorch_cuda` needs at run time.
//!
//! Also sets `SLUICE_GIT_REVISION`, the commit run directories record.
fn main() {
    git_revision();
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

/// The checkout's commit; rerun when HEAD moves (a commit, a checkout). Uncommitted changes
/// are not tracked: a build script that reran on every edit would rebuild the crate each time.
fn git_revision() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let revision = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SLUICE_GIT_REVISION={revision}");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let dir = std::path::Path::new(&dir);
        // A path that does not exist makes cargo rerun the script on every build.
        let head = git(&["symbolic-ref", "-q", "HEAD"]);
        for file in ["HEAD", "packed-refs"].into_iter().chain(head.as_deref()) {
            if dir.join(file).exists() {
                println!("cargo:rerun-if-changed={}", dir.join(file).display());
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

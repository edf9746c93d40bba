//! Devices.

use tch::Device;

/// Parses `cpu` or `cuda:N`; CUDA must be available.
pub fn parse_device(name: &str) -> Result<Device, String> {
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let n: usize = name
        .strip_prefix("cuda:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("device `{name}`: expected `cpu` or `cuda:N`"))?;
    if !tch::Cuda::is_available() {
        let hint = if cfg!(feature = "cuda") {
            "no CUDA device or driver found"
        } else {
            "this build has no CUDA backend (build with `--features cuda`, see README)"
        };
        return Err(format!("device `{name}`: CUDA is not available: {hint}"));
    }
    let count = tch::Cuda::device_count() as usize;
    if n >= count {
        return Err(format!("device `{name}`: only {count} CUDA device(s)"));
    }
    Ok(Device::Cuda(n))
}

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
        return Err(format!(
            "device `{name}`: CUDA is not available on this machine"
        ));
    }
    let count = tch::Cuda::device_count() as usize;
    if n >= count {
        return Err(format!("device `{name}`: only {count} CUDA device(s)"));
    }
    Ok(Device::Cuda(n))
}

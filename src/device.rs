//! Compute device selection. `auto` picks CUDA device 0 when libtorch sees a GPU, else the CPU.

use crate::error::{Error, Result};
use std::cell::Cell;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI32, Ordering};

/// A device request as a user writes it: `auto`, `cpu` or `cuda:N` (`cuda` means `cuda:0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceSpec {
    /// Resolve to a concrete libtorch device, failing when a requested GPU does not exist.
    pub fn resolve(self) -> Result<tch::Device> {
        match self {
            DeviceSpec::Auto => Ok(if tch::Cuda::is_available() { tch::Device::Cuda(0) } else { tch::Device::Cpu }),
            DeviceSpec::Cpu => Ok(tch::Device::Cpu),
            DeviceSpec::Cuda(i) => {
                let count = if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
                if i < count {
                    Ok(tch::Device::Cuda(i))
                } else {
                    Err(Error::invalid_argument(format!(
                        "device cuda:{i} requested but {count} CUDA device(s) are available"
                    )))
                }
            }
        }
    }
}

/// The intra-op thread count the process asked for (0: never set; libtorch's default applies).
static INTRA_OP_THREADS: AtomicI32 = AtomicI32::new(0);

thread_local! {
    /// The count last applied on this thread.
    static APPLIED_THREADS: Cell<i32> = const { Cell::new(0) };
}

/// Set libtorch's intra-op thread count for the process (n ≥ 1). libtorch keeps the count of its
/// OpenMP pool per calling thread: a thread the host created later (an OpenMP worker of a particle
/// code) would otherwise run each operation on as many threads as there are cores, and two such
/// threads measured slower than one (0.7×). [`sync_intra_op_threads`] carries the setting over.
pub fn set_intra_op_threads(n: i32) {
    INTRA_OP_THREADS.store(n, Ordering::Relaxed);
    APPLIED_THREADS.with(|a| a.set(n));
    tch::set_num_threads(n);
}

/// Apply the process-wide count set by [`set_intra_op_threads`] on the calling thread, once per
/// thread (queries call it; a thread-local read otherwise).
pub fn sync_intra_op_threads() {
    let n = INTRA_OP_THREADS.load(Ordering::Relaxed);
    if n > 0 && APPLIED_THREADS.with(|a| a.replace(n)) != n {
        tch::set_num_threads(n);
    }
}

impl FromStr for DeviceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            _ => {
                if let Some(idx) = t.strip_prefix("cuda:") {
                    idx.parse::<usize>().map(DeviceSpec::Cuda).map_err(|_| {
                        Error::invalid_argument(format!("invalid device '{s}': expected auto, cpu or cuda:N"))
                    })
                } else {
                    Err(Error::invalid_argument(format!("invalid device '{s}': expected auto, cpu or cuda:N")))
                }
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_device_specs() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        for bad in ["cuda:x", "tpu", "", "cuda:-1"] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cpu_always_resolves_and_auto_matches_availability() {
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), tch::Device::Cpu);
        let auto = DeviceSpec::Auto.resolve().unwrap();
        assert_eq!(auto.is_cuda(), tch::Cuda::is_available());
        // A device index far beyond any machine is refused with a message naming it.
        let err = DeviceSpec::Cuda(999).resolve().unwrap_err();
        assert!(err.message().contains("cuda:999"));
    }
}

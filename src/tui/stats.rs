//! CPU and memory of a container from one sample of Docker's stats stream,
//! worked out as `docker stats` does.

use bollard::models::ContainerStatsResponse;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// Percent of one CPU (200.0: two CPUs busy).
    pub cpu: f64,
    /// Bytes in use, without the reclaimable page cache.
    pub memory: u64,
    /// The container's memory limit (the host's memory when unlimited).
    pub limit: u64,
}

impl Usage {
    /// `None` for a sample with no previous reading to compare with (the
    /// first of a stream), or from a container that is not running.
    pub fn from_sample(s: &ContainerStatsResponse) -> Option<Usage> {
        let cpu = s.cpu_stats.as_ref()?;
        let pre = s.precpu_stats.as_ref()?;
        let total = |c: &bollard::models::ContainerCpuStats| {
            c.cpu_usage.as_ref().and_then(|u| u.total_usage)
        };
        let cpu_delta = total(cpu)?.checked_sub(total(pre)?)?;
        let system_delta = cpu.system_cpu_usage?.checked_sub(pre.system_cpu_usage?)?;
        if system_delta == 0 {
            return None;
        }
        let cpus = cpu.online_cpus.filter(|&n| n > 0).unwrap_or(1) as f64;
        let mem = s.memory_stats.as_ref()?;
        let usage = mem.usage?;
        // cgroup v2 reports `inactive_file`, v1 `total_inactive_file`: page
        // cache the kernel can take back, which `docker stats` leaves out.
        let cache = mem.stats.as_ref().and_then(|st| {
            st.get("inactive_file")
                .or_else(|| st.get("total_inactive_file"))
                .copied()
        });
        Some(Usage {
            cpu: cpu_delta as f64 / system_delta as f64 * cpus * 100.0,
            memory: usage.saturating_sub(cache.unwrap_or(0)),
            limit: mem.limit.unwrap_or(0),
        })
    }

    /// `0.4%`, `12%`, `180%`.
    pub fn cpu_text(&self) -> String {
        if self.cpu < 10.0 {
            format!("{:.1}%", self.cpu)
        } else {
            format!("{:.0}%", self.cpu)
        }
    }

    /// `812K`, `14M`, `1.2G`.
    pub fn memory_text(&self) -> String {
        let b = self.memory as f64;
        const K: f64 = 1024.0;
        if b < K * K {
            format!("{:.0}K", b / K)
        } else if b < K * K * K {
            format!("{:.0}M", b / K / K)
        } else {
            format!("{:.1}G", b / K / K / K)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    fn cpu(total: u64, system: u64) -> Option<ContainerCpuStats> {
        Some(ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        })
    }

    #[test]
    fn cpu_and_memory_as_docker_stats_shows_them() {
        let s = ContainerStatsResponse {
            precpu_stats: cpu(1_000, 100_000),
            cpu_stats: cpu(6_000, 200_000),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(20 * 1024 * 1024),
                limit: Some(1 << 30),
                stats: Some([("inactive_file".to_string(), 6 * 1024 * 1024)].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let u = Usage::from_sample(&s).unwrap();
        // 5,000 of 100,000 ns of system time, on 2 CPUs.
        assert!((u.cpu - 10.0).abs() < 1e-9, "{}", u.cpu);
        assert_eq!(u.memory, 14 * 1024 * 1024);
        assert_eq!(
            (u.cpu_text(), u.memory_text()),
            ("10%".into(), "14M".into())
        );
        let small = Usage {
            cpu: 0.04,
            memory: 812 * 1024,
            limit: 0,
        };
        assert_eq!(
            (small.cpu_text(), small.memory_text()),
            ("0.0%".into(), "812K".into())
        );
    }

    #[test]
    fn a_first_sample_has_no_figure() {
        let s = ContainerStatsResponse {
            cpu_stats: cpu(6_000, 200_000),
            precpu_stats: Some(ContainerCpuStats::default()),
            ..Default::default()
        };
        assert_eq!(Usage::from_sample(&s), None);
    }
}

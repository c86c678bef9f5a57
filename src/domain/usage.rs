//! A container's CPU and memory use, as `docker stats` shows it.

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

    #[test]
    fn usage_is_written_as_docker_stats_writes_it() {
        let u = Usage {
            cpu: 10.0,
            memory: 14 * 1024 * 1024,
            limit: 0,
        };
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
}

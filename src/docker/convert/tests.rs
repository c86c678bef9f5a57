use super::*;
use bollard::models::{
    ContainerConfig, ContainerState, ContainerStateStatusEnum, ContainerSummaryStateEnum,
    EventActor, Health as H, HealthcheckResult,
};

fn event(action: &str, attrs: &[(&str, &str)]) -> EventMessage {
    EventMessage {
        action: Some(action.into()),
        actor: Some(EventActor {
            id: Some("abc".into()),
            attributes: Some(
                attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }),
        time_nano: Some(1_700_000_000_000_000_000),
        ..Default::default()
    }
}

#[test]
fn a_listed_container_gives_state_health_exit_code_and_owner() {
    use bollard::models::{PortSummary, PortSummaryTypeEnum};
    let listed = |state, status: &str| ContainerSummary {
        id: Some("c1".into()),
        names: Some(vec!["/demo-web-v2-\x1b[2Jab".into()]),
        image: Some("demo:v2".into()),
        created: Some(1_700_000_000),
        labels: Some(
            [
                ("berth.app", "demo"),
                ("berth.role", "web"),
                ("berth.version", "v2"),
                ("berth.managed", "true"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ),
        state: Some(state),
        status: Some(status.into()),
        ports: Some(vec![
            PortSummary {
                private_port: 8080,
                typ: Some(PortSummaryTypeEnum::TCP),
                ..Default::default()
            },
            PortSummary {
                ip: Some("0.0.0.0".into()),
                private_port: 8080,
                public_port: Some(18080),
                typ: Some(PortSummaryTypeEnum::TCP),
            },
        ]),
        ..Default::default()
    };
    let c = summary(listed(
        ContainerSummaryStateEnum::RUNNING,
        "Up 3 minutes (unhealthy)",
    ));
    assert_eq!(c.name, "demo-web-v2-ab", "control sequences stripped");
    assert_eq!((c.state, c.health), (State::Running, Health::Unhealthy));
    assert_eq!(c.owner.app.as_deref(), Some("demo"));
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0].protocol, "tcp");
    assert_eq!(c.created_at.map(|t| t.timestamp()), Some(1_700_000_000));
    assert_eq!(c.started_at, None, "only an inspect knows");
    let c = summary(listed(
        ContainerSummaryStateEnum::RUNNING,
        "Up 2 seconds (health: starting)",
    ));
    assert_eq!(c.health, Health::Starting);
    let c = summary(listed(
        ContainerSummaryStateEnum::EXITED,
        "Exited (137) 5 minutes ago",
    ));
    assert_eq!(
        (c.state, c.health, c.exit_code),
        (State::Exited, Health::None, Some(137))
    );
}

#[test]
fn events_map_to_effects() {
    assert_eq!(
        event_effect(&event("destroy", &[])),
        EventEffect::Removed("abc".into())
    );
    assert_eq!(
        event_effect(&event("health_status: unhealthy", &[])),
        EventEffect::Refresh("abc".into())
    );
    assert_eq!(
        event_effect(&event("exec_start: wget -q", &[])),
        EventEffect::Ignore
    );
}

#[test]
fn a_die_event_gives_its_exit_code_and_no_other_event_does() {
    assert_eq!(die_exit(&event("die", &[("exitCode", "137")])), Some(137));
    assert_eq!(die_exit(&event("die", &[("exitCode", "x")])), None);
    assert_eq!(die_exit(&event("die", &[])), None);
    assert_eq!(die_exit(&event("kill", &[("exitCode", "1")])), None);
    assert_eq!(die_exit(&event("diet", &[("exitCode", "1")])), None);
}

#[test]
fn event_records_carry_detail_and_app() {
    let r = event_record(
        "h",
        &event(
            "die",
            &[
                ("name", "demo-web-v1"),
                ("exitCode", "137"),
                ("berth.app", "demo"),
                ("berth.managed", "true"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(r.action, "die");
    assert_eq!(r.detail.as_deref(), Some("exit code 137"));
    assert_eq!(r.app.as_deref(), Some("demo"));
    let r = event_record(
        "h",
        &event("health_status: healthy", &[("name", "x\x1b[2Jy")]),
    )
    .unwrap();
    assert_eq!(r.detail.as_deref(), Some("healthy"));
    assert_eq!(r.container_name, "xy");
    assert!(event_record("h", &event("exec_create: true", &[])).is_none());
}

#[test]
fn inspect_converts_and_sanitizes() {
    let c = container(ContainerInspectResponse {
        id: Some("0123456789abcdef".into()),
        name: Some("/demo-web-v1".into()),
        config: Some(ContainerConfig {
            image: Some("demo:v1".into()),
            labels: Some(HashMap::from([
                ("berth.managed".into(), "true".into()),
                ("berth.app".into(), "demo".into()),
            ])),
            exposed_ports: Some(vec!["8080/tcp".into()]),
            ..Default::default()
        }),
        state: Some(ContainerState {
            status: Some(ContainerStateStatusEnum::RUNNING),
            started_at: Some("2026-11-22T00:00:00.123456789Z".into()),
            finished_at: Some("0001-01-01T00:00:00Z".into()),
            exit_code: Some(0),
            health: Some(H {
                status: Some(HealthStatusEnum::UNHEALTHY),
                failing_streak: Some(3),
                log: Some(
                    (0..7)
                        .map(|i| HealthcheckResult {
                            start: Some("2026-11-22T00:00:01Z".into()),
                            end: None,
                            exit_code: Some(1),
                            output: Some(format!("probe {i}\x1b[31m failed\n")),
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        }),
        restart_count: Some(2),
        ..Default::default()
    });
    assert_eq!(c.name, "demo-web-v1");
    assert_eq!(c.short_id(), "0123456789ab");
    assert_eq!(c.owner.app.as_deref(), Some("demo"));
    assert_eq!((c.state, c.health), (State::Running, Health::Unhealthy));
    assert!(c.finished_at.is_none(), "zero time means never");
    assert_eq!(c.exit_code, None, "a running container has no exit code");
    assert_eq!(c.restart_count, 2);
    assert_eq!(c.health_log.len(), HEALTH_LOG);
    assert_eq!(c.health_log.last().unwrap().output, "probe 6 failed");
    assert_eq!(c.ports[0].to_string(), "8080/tcp");
}

mod usage_tests {
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
        let s = bollard::models::ContainerStatsResponse {
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
        let u = usage(&s).unwrap();
        // 5,000 of 100,000 ns of system time, on 2 CPUs.
        assert!((u.cpu - 10.0).abs() < 1e-9, "{}", u.cpu);
        assert_eq!(u.memory, 14 * 1024 * 1024);
    }

    #[test]
    fn a_first_sample_has_no_figure() {
        let s = bollard::models::ContainerStatsResponse {
            cpu_stats: cpu(6_000, 200_000),
            precpu_stats: Some(ContainerCpuStats::default()),
            ..Default::default()
        };
        assert_eq!(usage(&s), None);
    }
}

use super::*;

#[test]
fn boot_limit_group_sizes() {
    assert_eq!(BootLimit::Count(1).group_size(4), 1);
    assert_eq!(BootLimit::Count(10).group_size(4), 4);
    assert_eq!(BootLimit::Percent(25).group_size(4), 1);
    assert_eq!(BootLimit::Percent(25).group_size(5), 2);
    assert_eq!(BootLimit::Percent(1).group_size(3), 1);
    assert_eq!(BootLimit::Percent(100).group_size(3), 3);
}

#[test]
fn boot_limit_parses_counts_and_percentages() {
    let p = |s: &str| serde_yaml::from_str::<BootLimit>(s);
    assert_eq!(p("2").unwrap(), BootLimit::Count(2));
    assert_eq!(p("\"25%\"").unwrap(), BootLimit::Percent(25));
    assert!(p("0").is_err());
    assert!(p("\"150%\"").is_err());
    assert!(p("lots").is_err());
}

#[test]
fn role_healthcheck_off_override_or_inherited() {
    let app: AppConfig = serde_yaml::from_str(
        "image: x\nroles:\n  web: {hosts: [a]}\n  worker: {hosts: [a], healthcheck: false}\n  cron: {hosts: [a], healthcheck: {command: [\"true\"]}}\nhealthcheck: {command: [wget]}\n",
    )
    .unwrap();
    let r = |n: &str| app.role_healthcheck(&RoleName::new(n).unwrap());
    assert_eq!(r("web").unwrap().unwrap().command.0, vec!["wget"]);
    assert!(r("worker").unwrap().is_none());
    assert_eq!(r("cron").unwrap().unwrap().command.0, vec!["true"]);
    let e = serde_yaml::from_str::<AppConfig>(
        "image: x\nroles: {w: {hosts: [a], healthcheck: true}}\n",
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("write `false` to turn it off"),
        "{e}"
    );
}

#[test]
fn argv_refuses_shell_strings() {
    let e = serde_yaml::from_str::<Argv>("bin/migrate --yes")
        .unwrap_err()
        .to_string();
    assert!(e.contains("[\"bin/migrate\", \"--yes\"]"), "{e}");
    assert_eq!(
        serde_yaml::from_str::<Argv>("[a, b]").unwrap(),
        Argv(vec!["a".into(), "b".into()])
    );
}

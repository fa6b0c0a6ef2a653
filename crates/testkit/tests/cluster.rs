use tenantguard_testkit::Cluster;

#[test]
fn starts_runs_sql_and_cleans_up() {
    let cluster = Cluster::start().expect("cluster starts");
    cluster.create_database("app").unwrap();
    let answer = cluster.query("app", "SELECT 40 + 2").unwrap();
    assert_eq!(answer, "42");
    let err = cluster.psql("app", "SELECT * FROM no_such_table").unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let dir = cluster.socket_dir();
    drop(cluster);
    assert!(!dir.exists(), "cluster directory removed on drop");
}

#[test]
fn two_clusters_run_side_by_side() {
    let a = Cluster::start().unwrap();
    let b = Cluster::start().unwrap();
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE ROLE only_in_a").unwrap();
    assert_eq!(b.query("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'only_in_a'").unwrap(), "0");
}

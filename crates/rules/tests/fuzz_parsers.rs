//! Deterministic fuzzing of every parser tenantguard writes or feeds: identifiers, function-body
//! scanning, policy expressions through pg_query, and the whole rule engine on hostile catalogs.
//! None may panic, whatever the input.

use tenantguard_catalog::expr::{parse_expr, parse_query, parse_statements};
use tenantguard_catalog::{split_identifier, Function, Policy, PolicyCommand, QualifiedName, Snapshot};

const PIECES: &[&str] = &[
    "'", "\"", "$$", "$f$", "(", ")", ",", ".", ";", "--", "/*", "*/", "\n", " ", "set_config", "SET", "LOCAL",
    "app.current_tenant", "current_setting", "true", "false", "tenant_id", "=", "OR", "AND", "NOT", "SELECT", "FROM",
    "EXISTS", "IN", "ANY", "::uuid", "auth.uid()", "auth.jwt()", "->>", "CASE", "WHEN", "THEN", "END", "é", "\\", "x",
    "1", "NULL", "IS", "coalesce", "insert into", "update", "delete from",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn soup(&mut self, max: u64) -> String {
        let n = self.next() % max;
        (0..n).map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize]).collect::<Vec<_>>().join("")
    }
}

#[test]
fn identifier_parsing_never_panics() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let s = rng.soup(8);
        let _ = split_identifier(&s);
        let _ = QualifiedName::parse(&s);
    }
    assert_eq!(QualifiedName::parse("\"My Schema\".\"a\"\"b\"").unwrap().to_string(), "\"My Schema\".\"a\"\"b\"");
}

#[test]
fn sql_parsing_never_panics() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..5_000 {
        let s = rng.soup(14);
        let _ = parse_expr(&s);
        let _ = parse_query(&s);
        let _ = parse_statements(&s);
    }
}

fn hostile_snapshot(rng: &mut Rng) -> Snapshot {
    let mut snap: Snapshot = serde_json::from_str(include_str!("fuzz_seed_snapshot.json")).unwrap();
    for p in snap.policies.iter_mut() {
        let text = rng.soup(12);
        p.using = parse_expr(&text).ok();
        p.using_text = Some(text);
    }
    let body = rng.soup(30);
    snap.functions.push(Function {
        oid: 99_999,
        schema: "public".into(),
        name: "f".into(),
        arguments: rng.soup(3),
        arg_count: (rng.next() % 3) as i16,
        language: if rng.next().is_multiple_of(2) { "sql".into() } else { "plpgsql".into() },
        security_definer: rng.next().is_multiple_of(2),
        volatility: "s".into(),
        owner: 10,
        config: vec![],
        sql_body: parse_statements(&body).ok(),
        source: body,
        returns_set: false,
        return_type: "boolean".into(),
        grants: vec![],
        is_trigger: rng.next().is_multiple_of(3),
    });
    snap.policies.push(Policy {
        name: "fuzz".into(),
        relation: snap.relations[0].oid,
        command: PolicyCommand::All,
        permissive: rng.next().is_multiple_of(2),
        roles: vec![0],
        using_text: None,
        check_text: None,
        using: parse_expr("f(tenant_id)").ok(),
        check: None,
    });
    snap
}

#[test]
fn the_rule_engine_never_panics_on_hostile_catalogs() {
    let mut rng = Rng(0x0bad_c0de_1234_5678);
    let config = tenantguard_rules::Config::default();
    for _ in 0..300 {
        let snap = hostile_snapshot(&mut rng);
        let _ = tenantguard_rules::run(&snap, &config);
    }
}

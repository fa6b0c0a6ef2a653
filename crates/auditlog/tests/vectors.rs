//! Test vectors for canonical encoding v1, checked against both implementations.
//! Regenerate (after a deliberate encoding change only) with TG_WRITE_VECTORS=1.
mod common;

use serde::{Deserialize, Serialize};
use tenantguard_auditlog::encoding::{canonical_jsonb, link_bytes, payload_bytes, payload_hash, ts_text, Link};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testvectors/encoding-v1.json");

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Vectors {
    jsonb: Vec<JsonbCase>,
    links: Vec<LinkCase>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct JsonbCase {
    input: String,
    canonical: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct LinkCase {
    name: String,
    prev_hash: String,
    tenant_id: String,
    seq: i64,
    actor: Option<String>,
    action: String,
    entity: String,
    entity_id: Option<String>,
    at: String,
    at_unix_micros: i64,
    txid: i64,
    old_value: Option<String>,
    new_value: Option<String>,
    ts_text: String,
    payload_bytes: String,
    payload_hash: String,
    link_bytes: String,
    link_hash: String,
}

fn jsonb_inputs() -> Vec<&'static str> {
    vec![
        r#"{"b": 1, "a": 2, "aa": 3, "B": 4}"#,
        r#"{"nested": {"z": [1, 2, {"y": null}], "x": true}, "n": -12}"#,
        r#""quote \" backslash \\ newline \n tab \t bell \u0007 é €""#,
        r#"[]"#,
        r#"{}"#,
        r#"{"amount": 10.5, "id": 9007199254740993}"#,
        r#"{"dup": 1, "dup": 2}"#,
    ]
}

#[allow(clippy::too_many_arguments)] // one vector, spelled out field by field
fn link_case(name: &str, prev: [u8; 32], tenant: &str, seq: i64, actor: Option<&str>, action: &str, entity_id: Option<&str>, at: &str, micros: i64, old: Option<&str>, new: Option<&str>) -> LinkCase {
    let ph = payload_hash(old.map(str::as_bytes), new.map(str::as_bytes));
    let link = Link {
        tenant_id: tenant.as_bytes(),
        seq,
        actor: actor.map(str::as_bytes),
        action: action.as_bytes(),
        entity: b"public.invoices",
        entity_id: entity_id.map(str::as_bytes),
        at_unix_micros: micros,
        txid: 744 + seq,
        payload_hash: &ph,
    };
    let lb = link_bytes(&prev, &link);
    LinkCase {
        name: name.into(),
        prev_hash: hex::encode(prev),
        tenant_id: tenant.into(),
        seq,
        actor: actor.map(Into::into),
        action: action.into(),
        entity: "public.invoices".into(),
        entity_id: entity_id.map(Into::into),
        at: at.into(),
        at_unix_micros: micros,
        txid: 744 + seq,
        old_value: old.map(Into::into),
        new_value: new.map(Into::into),
        ts_text: ts_text(micros),
        payload_bytes: hex::encode(payload_bytes(old.map(str::as_bytes), new.map(str::as_bytes))),
        payload_hash: hex::encode(ph),
        link_bytes: hex::encode(&lb),
        link_hash: hex::encode(sha2::Digest::finalize(sha2::Digest::chain_update(sha2::Sha256::default(), &lb))),
    }
}

fn computed() -> Vectors {
    let jsonb = jsonb_inputs()
        .into_iter()
        .map(|i| JsonbCase { input: i.into(), canonical: canonical_jsonb(&serde_json::from_str(i).unwrap()) })
        .collect();
    let first = link_case("genesis insert", [0; 32], "t1", 1, Some("alice"), "INSERT", Some("42"), "2024-02-29 23:59:59.000001+00", 1_709_251_199_000_001, None, Some(r#"{"id": 42, "amount": 10.5, "tenant_id": "t1"}"#));
    let prev: [u8; 32] = hex::decode(&first.link_hash).unwrap().try_into().unwrap();
    let second = link_case("update, non-ASCII, offset timestamp", prev, "tenant-ü", 2, None, "UPDATE", Some("[42, \"a\"]"), "2024-03-01 01:30:00.5+02", 1_709_249_400_500_000, Some(r#"{"note": "é"}"#), Some(r#"{"note": "€"}"#));
    let third = link_case("erased-style nulls, empty strings", [0xab; 32], "", 9_000_000_000, Some(""), "login", None, "1999-12-31 23:59:59.999999+00", 946_684_799_999_999, None, None);
    Vectors { jsonb, links: vec![first, second, third] }
}

#[test]
fn rust_matches_the_vectors() {
    let ours = computed();
    if std::env::var_os("TG_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, serde_json::to_string_pretty(&ours).unwrap() + "\n").unwrap();
    }
    let file: Vectors = serde_json::from_str(&std::fs::read_to_string(PATH).expect("test vectors present")).unwrap();
    assert_eq!(ours, file);
}

#[tokio::test]
async fn sql_matches_the_vectors() {
    let file: Vectors = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let env = common::setup();
    let c = common::connect(&env.url).await;
    c.batch_execute("SET TimeZone = 'America/New_York'").await.unwrap();
    for j in &file.jsonb {
        let text: String = c.query_one("SELECT $1::text::jsonb::text", &[&j.input]).await.unwrap().get(0);
        assert_eq!(text, j.canonical, "PostgreSQL's jsonb text for {}", j.input);
    }
    for v in &file.links {
        let row = c
            .query_one(
                "SELECT audit.ts_text($1::text::timestamptz),
                        encode(audit.payload_hash($2::text::jsonb, $3::text::jsonb), 'hex'),
                        encode(audit.link_hash(decode($4, 'hex'), $5, $6, $7, $8, $9, $10, $1::text::timestamptz, $11,
                                               audit.payload_hash($2::text::jsonb, $3::text::jsonb)), 'hex'),
                        (extract(epoch FROM $1::text::timestamptz) * 1000000)::bigint",
                &[&v.at, &v.old_value, &v.new_value, &v.prev_hash, &v.tenant_id, &v.seq, &v.actor, &v.action, &v.entity, &v.entity_id, &v.txid],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), v.ts_text, "{}", v.name);
        assert_eq!(row.get::<_, String>(1), v.payload_hash, "{}", v.name);
        assert_eq!(row.get::<_, String>(2), v.link_hash, "{}", v.name);
        assert_eq!(row.get::<_, i64>(3), v.at_unix_micros, "{}", v.name);
    }
}

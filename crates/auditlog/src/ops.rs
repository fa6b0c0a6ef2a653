//! The sealer and erasure, as the CLI and the tests call them.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::encoding::{link_bytes_into, payload_hash, Hash, Link, ZERO_HASH};

use crate::db::UseError;
use crate::scaffold::check_ident;

fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> UseError {
    move |e| UseError::Other(format!("{what} failed: {}", e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())))
}

/// One sealing round: how many rows it linked, and whether final rows wait beyond its
/// window (then seal again at once; otherwise the log is sealed up to its safe point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub sealed: i64,
    pub more: bool,
}

/// Seal the rows of the next window of `max_rows` ids in one short transaction; returns how
/// many were sealed. A window with rolled-back ids in it seals fewer rows: loop on
/// [`seal_round`]'s `more`, not on a full batch.
pub async fn seal_once(client: &Client, schema: &str, max_rows: i32) -> Result<i64, UseError> {
    Ok(seal_round(client, schema, max_rows).await?.sealed)
}

/// Seal the next window of `max_rows` ids in one short transaction.
///
/// The hashing happens here, not in the database: `seal_claim` takes the sealer's lock and
/// returns the next rows above the floor with their tenants' chain tips, this computes
/// payload hashes and links (canonical encoding v1, the same code verify uses), and
/// `seal_store` checks that the batch is exactly the claimed rows, that each tenant's part
/// comes together in id order and continues its tip, and the last link against the SQL
/// encoding, then inserts the links. About half the sealer's database CPU per row was SQL
/// byte concatenation (docs/audit-log.md, Speed). Seals nothing (and says no more) when
/// another sealer holds the lock.
pub async fn seal_round(client: &Client, schema: &str, max_rows: i32) -> Result<Round, UseError> {
    check_ident(schema).map_err(|e| UseError::Other(e.to_string()))?;
    if max_rows < 1 {
        return Err(UseError::Other(format!("sealing needs a batch of at least one row, not {max_rows}")));
    }
    client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED").await.map_err(db("sealing"))?;
    let result = seal_in_transaction(client, schema, max_rows).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await.map_err(db("sealing"));
    match result {
        Ok(n) => ended.map(|_| n),
        Err(e) => Err(seal_error(e)),
    }
}

async fn seal_in_transaction(client: &Client, schema: &str, max_rows: i32) -> Result<Round, SealError> {
    let claim = format!(
        "SELECT tenant_id, head_seq, head_hash, id, at, actor, action, entity, entity_id, old_text, new_text, txid, more \
         FROM {schema}.seal_claim($1)"
    );
    let rows = client.query(claim.as_str(), &[&max_rows]).await?;
    let Some(more) = rows.first().map(|r| r.get::<_, bool>(12)) else {
        return Ok(Round { sealed: 0, more: false });
    };
    let n = rows.len();
    // Per run: tenant, first seq, the hash before it, link count; per link: id and hashes.
    let (mut tenants, mut first_seqs, mut prev_hashes, mut counts) = (vec![], vec![], vec![], vec![]);
    let (mut ids, mut payload_hashes, mut hashes) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut buf = Vec::with_capacity(512);
    // Rows come in no order, each carrying its tenant's chain tip: chain them per tenant in id
    // order (sorting these keys here is cheaper than sorting the wide rows in the claim).
    let mut order: Vec<(&str, i64, usize)> = rows.iter().enumerate().map(|(i, r)| (r.get(0), r.get(3), i)).collect();
    order.sort_unstable();
    let mut current: Option<&str> = None;
    let (mut seq, mut prev): (i64, Hash) = (0, ZERO_HASH);
    for &(tenant, id, i) in &order {
        let r = &rows[i];
        if current != Some(tenant) {
            current = Some(tenant);
            seq = r.get(1);
            let head: &[u8] = r.get(2);
            prev = head.try_into().map_err(|_| SealError::BadHead(tenant.to_string()))?;
            counts.push(0);
        } else if counts.last() == Some(&RUN_MAX) {
            counts.push(0);
        }
        seq += 1;
        if counts.last() == Some(&0) {
            tenants.push(tenant);
            first_seqs.push(seq);
            prev_hashes.push(prev.to_vec());
        }
        if let Some(c) = counts.last_mut() {
            *c += 1;
        }
        let at: SystemTime = r.get(4);
        let old: Option<&str> = r.get(9);
        let new: Option<&str> = r.get(10);
        let payload = payload_hash(old.map(str::as_bytes), new.map(str::as_bytes));
        let link = Link {
            tenant_id: tenant.as_bytes(),
            seq,
            actor: r.get::<_, Option<&str>>(5).map(str::as_bytes),
            action: r.get::<_, &str>(6).as_bytes(),
            entity: r.get::<_, &str>(7).as_bytes(),
            entity_id: r.get::<_, Option<&str>>(8).map(str::as_bytes),
            at_unix_micros: unix_micros(at),
            txid: r.get(11),
            payload_hash: &payload,
        };
        link_bytes_into(&mut buf, &prev, &link);
        let hash: Hash = Sha256::digest(&buf).into();
        ids.push(id);
        payload_hashes.push(payload.to_vec());
        hashes.push(hash.to_vec());
        prev = hash;
    }
    let store = format!("SELECT {schema}.seal_store($1, $2, $3, $4, $5, $6, $7)");
    let row = client
        .query_one(store.as_str(), &[&tenants, &first_seqs, &prev_hashes, &counts, &ids, &payload_hashes, &hashes])
        .await?;
    Ok(Round { sealed: i64::from(row.get::<_, i32>(0)), more })
}

/// Links per stored run: a run of 64 (about 5 kB) fits in one page, so no run is TOASTed
/// (log.sql's `link_run`; the SQL sealer uses the same bound).
pub const RUN_MAX: i32 = 64;

enum SealError {
    Db(tokio_postgres::Error),
    BadHead(String),
}

impl From<tokio_postgres::Error> for SealError {
    fn from(e: tokio_postgres::Error) -> Self {
        SealError::Db(e)
    }
}

fn seal_error(e: SealError) -> UseError {
    match e {
        SealError::Db(e) => db("sealing")(e),
        SealError::BadHead(t) => UseError::Other(format!("sealing failed: the head hash of tenant {t} is not 32 bytes")),
    }
}

fn unix_micros(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

/// Seal until nothing is left (what a test or a one-off run wants).
pub async fn seal_all(client: &Client, schema: &str) -> Result<i64, UseError> {
    let mut total = 0;
    loop {
        // A round that sealed nothing reached the safe point and could not move it.
        let n = seal_once(client, schema, 10_000).await?;
        total += n;
        if n == 0 {
            return Ok(total);
        }
    }
}

/// Erase a tenant's payloads (or one entity's, or one entity instance's); returns rows erased.
pub async fn erase(
    client: &Client,
    schema: &str,
    tenant: &str,
    reason: &str,
    entity: Option<&str>,
    entity_id: Option<&str>,
) -> Result<i64, UseError> {
    check_ident(schema).map_err(|e| UseError::Other(e.to_string()))?;
    let row = client
        .query_one(&format!("SELECT {schema}.erase($1, $2, $3, $4)"), &[&tenant, &reason, &entity, &entity_id])
        .await
        .map_err(db("erasing"))?;
    Ok(row.get(0))
}

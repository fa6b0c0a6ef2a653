//! Recompute every tenant's chain in Rust from one READ ONLY snapshot and report each
//! broken link, plus the holes this server leaves open.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use futures_util::TryStreamExt;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use crate::copy_rows::{Parser, RawRow};
use crate::db::{require_log, UseError};
use crate::encoding::{link_bytes_into, payload_hash, Link, PG_EPOCH_OFFSET_MICROS, ZERO_HASH};
use crate::holes::{find_holes, Hole};

/// Heads (seq, hash) the caller trusts, from a signed anchor file.
pub type TrustedHeads = BTreeMap<String, (i64, Vec<u8>)>;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub schema: String,
    pub anchor: Option<TrustedHeads>,
    /// Unsealed rows older than this many seconds are a finding (the sealer is not running).
    pub seal_bound_secs: f64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions { schema: "audit".into(), anchor: None, seal_bound_secs: 300.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The row's fields no longer give its stored hash: edited, or inserted/reordered by hand.
    RowEdited,
    /// old_value/new_value no longer give the sealed payload hash.
    PayloadEdited,
    /// The payload is gone but no erasure was recorded for the tenant.
    PayloadRemoved,
    /// A gap in seq, or a link whose row is gone: rows were deleted.
    MissingRows,
    /// Two rows with one seq: a fork or an inserted row.
    DuplicateSeq,
    /// prev_hash is not the previous row's hash: rows inserted, deleted or reordered.
    LinkBroken,
    /// The head table is ahead of the last row: the tail was deleted.
    TruncatedTail,
    /// Rows beyond the head the sealer recorded.
    RowsAfterHead,
    HeadMismatch,
    /// The chain disagrees with the signed anchor: it was rewritten and recomputed.
    AnchorMismatch,
    /// The chain ends before the anchored head.
    AnchorTruncated,
    /// Rows left unsealed longer than the bound: the sealer is not running.
    UnsealedOverdue,
    /// Rows at or below the sealer's floor that no link covers: inserted after sealing.
    Unlinked,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub tenant: String,
    pub seq: Option<i64>,
    pub kind: FindingKind,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Head {
    pub tenant: String,
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub tenants: usize,
    pub events: u64,
    pub erased: u64,
    pub unsealed: u64,
    pub anchor_checked: bool,
    pub findings: Vec<Finding>,
    pub holes: Vec<Hole>,
    /// The last verified link of each tenant (what `anchor` signs).
    pub heads: Vec<Head>,
    pub seconds: f64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

// Column order of the COPY below: each link with its log row.
const TENANT: usize = 0;
const SEQ: usize = 1;
const ACTOR: usize = 2;
const ACTION: usize = 3;
const ENTITY: usize = 4;
const ENTITY_ID: usize = 5;
const OLD: usize = 6;
const NEW: usize = 7;
const AT: usize = 8;
const TXID: usize = 9;
const PAYLOAD_HASH: usize = 10;
const PREV_HASH: usize = 11;
const HASH: usize = 12;
const ERASED: usize = 13;
/// The log row's own tenant; NULL when the link's row is gone.
const ROW_TENANT: usize = 14;

const CHUNK_ROWS: usize = 8192;

pub async fn verify(client: &mut Client, opts: &VerifyOptions) -> Result<Report, UseError> {
    verify_with(client, &[], opts).await
}

/// [`verify`], reading the links through `client` and each of `helpers` at once (more
/// connections to the same database, each a server backend of its own): every connection
/// copies the links whose id falls to it, in one snapshot exported by `client`'s transaction.
/// The server's side of the copy (the join, jsonb as text, the binary send) is most of
/// verify's time and runs on one core per connection.
pub async fn verify_with(client: &mut Client, helpers: &[Client], opts: &VerifyOptions) -> Result<Report, UseError> {
    let started = Instant::now();
    crate::scaffold::check_ident(&opts.schema).map_err(|e| UseError::Other(e.to_string()))?;
    require_log(client, &opts.schema).await?;
    let s = &opts.schema;
    // One snapshot for rows, heads and checkpoints, so a running sealer is not a finding.
    let tx = client.build_transaction().isolation_level(tokio_postgres::IsolationLevel::RepeatableRead).read_only(true).start().await.map_err(read_failed)?;

    let mut ctx = Context::default();
    for r in tx.query(&format!("SELECT tenant_id, seq, hash FROM {s}.head"), &[]).await.map_err(read_failed)? {
        ctx.heads.insert(r.get::<_, String>(0).into_bytes(), (r.get(1), r.get(2)));
    }
    let cp_sql = format!("SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash FROM {s}.checkpoint ORDER BY tenant_id, seq DESC");
    for r in tx.query(&cp_sql, &[]).await.map_err(read_failed)? {
        ctx.checkpoints.insert(r.get::<_, String>(0).into_bytes(), (r.get(1), r.get(2)));
    }
    for r in tx.query(&format!("SELECT DISTINCT tenant_id FROM {s}.erasure"), &[]).await.map_err(read_failed)? {
        ctx.erasure_tenants.insert(r.get::<_, String>(0).into_bytes());
    }
    if let Some(anchor) = &opts.anchor {
        ctx.anchor = anchor.iter().map(|(t, h)| (t.clone().into_bytes(), h.clone())).collect();
    }

    let mut report = Report { anchor_checked: opts.anchor.is_some(), ..Report::default() };
    // Rows above the sealer's floor are not linked yet (overdue past the bound); rows at or
    // below it must each have a link: the walk counts those it met, per tenant.
    let per_tenant_sql = format!(
        "SELECT l.tenant_id, count(*) FILTER (WHERE l.id <= s.floor), count(*) FILTER (WHERE l.id > s.floor), \
                coalesce(extract(epoch FROM clock_timestamp() - min(l.at) FILTER (WHERE l.id > s.floor))::float8, 0) \
           FROM {s}.log l CROSS JOIN {s}.seal_state s GROUP BY l.tenant_id"
    );
    for r in tx.query(&per_tenant_sql, &[]).await.map_err(read_failed)? {
        let (tenant, below, n, age): (String, i64, i64, f64) = (r.get(0), r.get(1), r.get(2), r.get(3));
        report.unsealed += n as u64;
        if n > 0 && age > opts.seal_bound_secs {
            report.findings.push(Finding {
                tenant: tenant.clone(),
                seq: None,
                kind: FindingKind::UnsealedOverdue,
                detail: format!("{n} rows unsealed, oldest {age:.0}s old (bound {:.0}s): is the sealer running?", opts.seal_bound_secs),
            });
        }
        ctx.rows_below_floor.insert(tenant.into_bytes(), below as u64);
    }
    report.holes = find_holes(&tx, s, opts.anchor.is_some(), report.unsealed).await?;

    // Connection i of n copies the links with id % n = i, all in this transaction's snapshot.
    let n = helpers.len() + 1;
    let copy = |i: usize| {
        let part = if n > 1 { format!(" WHERE k.id % {n} = {i}") } else { String::new() };
        format!(
            "COPY (SELECT k.tenant_id, k.seq, l.actor, l.action, l.entity, l.entity_id, l.old_value::text, l.new_value::text, \
             l.at, l.txid, k.payload_hash, k.prev_hash, k.hash, l.erased_at IS NOT NULL, l.tenant_id \
             FROM {s}.link k LEFT JOIN {s}.log l ON l.id = k.id{part}) TO STDOUT (FORMAT binary)"
        )
    };
    let opened = async {
        if n > 1 {
            let snapshot: String = tx.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(read_failed)?.get(0);
            for h in helpers.iter() {
                h.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    .await
                    .map_err(read_failed)?;
            }
        }
        let mut streams = vec![Box::pin(tx.copy_out(copy(0).as_str()).await.map_err(read_failed)?)];
        for (i, h) in helpers.iter().enumerate() {
            streams.push(Box::pin(h.copy_out(copy(i + 1).as_str()).await.map_err(read_failed)?));
        }
        Ok::<_, UseError>(streams)
    }
    .await;
    let streams = match opened {
        Ok(streams) => streams,
        Err(e) => {
            end_helpers(helpers).await;
            return Err(e);
        }
    };

    // A server-side sort of every link by (tenant_id, seq) is slower than this: each row's
    // own hashes are checked in parallel as it arrives, what the chain walk needs of it is
    // kept (about 130 bytes), and those are ordered by (tenant, seq) here before the walk.
    let (chunks, rx) = std::sync::mpsc::sync_channel::<Vec<RawRow>>(4);
    let checker = std::thread::spawn(move || {
        let mut tenants = Tenants::default();
        let mut linked: Vec<Linked> = Vec::new();
        // Rows met per row tenant, indexed by interned tenant id (no allocation per row).
        let mut rows_met: Vec<u64> = Vec::new();
        for chunk in rx {
            let checks: Vec<Checked> =
                chunk.par_iter().map_init(|| Vec::with_capacity(512), |buf, row| check_row(row, buf)).collect();
            for (row, checked) in chunk.iter().zip(checks) {
                if let Some(t) = row.get(ROW_TENANT) {
                    let t = tenants.id(t) as usize;
                    if rows_met.len() <= t {
                        rows_met.resize(t + 1, 0);
                    }
                    rows_met[t] += 1;
                }
                linked.push(Linked {
                    tenant: tenants.id(row.get(TENANT).unwrap_or_default()),
                    seq: row.i64(SEQ).unwrap_or(0),
                    prev: row.get(PREV_HASH).unwrap_or_default().to_vec(),
                    hash: row.get(HASH).unwrap_or_default().to_vec(),
                    payload_absent: row.get(OLD).is_none() && row.get(NEW).is_none(),
                    checked,
                });
            }
        }
        linked.par_sort_unstable_by_key(|l| (l.tenant, l.seq));
        let mut chain = Chains::new(ctx);
        for l in linked {
            chain.step(&tenants.names[l.tenant as usize], l);
        }
        chain.unlinked(&tenants, &rows_met);
        chain.finish()
    });
    let pumps = streams.into_iter().map(|stream| pump(stream, chunks.clone()));
    let read_errors: Vec<UseError> = futures_util::future::join_all(pumps).await.into_iter().flatten().collect();
    drop(chunks);
    let chain = checker.join().map_err(|_| UseError::Other("the verifier thread failed".into()))?;
    end_helpers(helpers).await;
    if let Some(e) = read_errors.into_iter().next() {
        return Err(e);
    }
    tx.commit().await.map_err(read_failed)?;

    report.tenants = chain.tenants;
    report.events = chain.events;
    report.erased = chain.erased;
    report.findings.extend(chain.findings);
    report.heads = chain.heads;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn read_failed(e: tokio_postgres::Error) -> UseError {
    UseError::Other(format!("reading the audit log failed: {e}"))
}

/// The helpers' read-only transactions end (either way changes nothing), so the caller can
/// use the connections again.
async fn end_helpers(helpers: &[Client]) {
    for h in helpers {
        let _ = h.batch_execute("ROLLBACK").await;
    }
}

/// One COPY stream into the checker, in chunks of rows; the first read error, if any.
async fn pump(
    mut stream: std::pin::Pin<Box<tokio_postgres::CopyOutStream>>,
    chunks: std::sync::mpsc::SyncSender<Vec<RawRow>>,
) -> Option<UseError> {
    let mut parser = Parser::default();
    let mut rows = Vec::with_capacity(CHUNK_ROWS);
    let error = loop {
        match stream.try_next().await {
            Ok(Some(bytes)) => {
                if let Err(e) = parser.feed(&bytes, &mut rows) {
                    break Some(UseError::Other(e));
                }
                if rows.len() >= CHUNK_ROWS {
                    let full = std::mem::replace(&mut rows, Vec::with_capacity(CHUNK_ROWS));
                    // The checker only stops early if it panicked; the join reports that.
                    if chunks.send(full).is_err() {
                        break None;
                    }
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(read_failed(e)),
        }
    };
    let _ = chunks.send(rows);
    error
}

#[derive(Default)]
struct Context {
    heads: HashMap<Vec<u8>, (i64, Vec<u8>)>,
    checkpoints: HashMap<Vec<u8>, (i64, Vec<u8>)>,
    erasure_tenants: HashSet<Vec<u8>>,
    anchor: HashMap<Vec<u8>, (i64, Vec<u8>)>,
    /// Log rows at or below the sealer's floor, per tenant: each must have met a link.
    rows_below_floor: HashMap<Vec<u8>, u64>,
}

#[derive(Clone, Copy)]
struct Checked {
    link_ok: bool,
    /// None: no payload to check (erased).
    payload_ok: Option<bool>,
    /// The link's log row is gone.
    row_missing: bool,
}

/// The per-row work, done in parallel: each link only needs its own stored prev_hash.
fn check_row(r: &RawRow, buf: &mut Vec<u8>) -> Checked {
    // Hashed with the row's own tenant: a row moved to another tenant no longer matches.
    let Some(row_tenant) = r.get(ROW_TENANT) else {
        // Nothing to hash: the walk reports the missing row (payload_ok Some(true): no payload finding).
        return Checked { link_ok: true, payload_ok: Some(true), row_missing: true };
    };
    let stored_payload_hash = r.get(PAYLOAD_HASH).unwrap_or_default();
    let (old, new) = (r.get(OLD), r.get(NEW));
    let erased = r.bool(ERASED).unwrap_or(false) && old.is_none() && new.is_none();
    let payload_ok = (!erased).then(|| payload_hash(old, new).as_slice() == stored_payload_hash);
    let link = Link {
        tenant_id: row_tenant,
        seq: r.i64(SEQ).unwrap_or(0),
        actor: r.get(ACTOR),
        action: r.get(ACTION).unwrap_or_default(),
        entity: r.get(ENTITY).unwrap_or_default(),
        entity_id: r.get(ENTITY_ID),
        at_unix_micros: r.i64(AT).unwrap_or(0).saturating_add(PG_EPOCH_OFFSET_MICROS),
        txid: r.i64(TXID).unwrap_or(0),
        payload_hash: stored_payload_hash,
    };
    link_bytes_into(buf, r.get(PREV_HASH).unwrap_or_default(), &link);
    let link_ok = Sha256::digest(&buf[..]).as_slice() == r.get(HASH).unwrap_or_default();
    Checked { link_ok, payload_ok, row_missing: false }
}

/// What the chain walk needs of a row once its own hashes were checked.
struct Linked {
    tenant: u32,
    seq: i64,
    prev: Vec<u8>,
    hash: Vec<u8>,
    /// Both old_value and new_value are NULL.
    payload_absent: bool,
    checked: Checked,
}

/// Tenant ids interned as they arrive, so a row carries a number, not its tenant's bytes.
#[derive(Default)]
struct Tenants {
    ids: HashMap<Vec<u8>, u32>,
    names: Vec<Vec<u8>>,
}

impl Tenants {
    fn id(&mut self, tenant: &[u8]) -> u32 {
        if let Some(id) = self.ids.get(tenant) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(tenant.to_vec());
        self.ids.insert(tenant.to_vec(), id);
        id
    }
}

/// Sequential state across rows ordered by (tenant_id, seq).
struct Chains {
    ctx: Context,
    current: Option<Vec<u8>>,
    next_seq: i64,
    prev_hash: Vec<u8>,
    last_seq: Option<i64>,
    /// The first seq of the current run of links whose rows are gone (one finding per run).
    missing_run: Option<i64>,
    tenants: usize,
    events: u64,
    erased: u64,
    findings: Vec<Finding>,
    heads: Vec<Head>,
    seen: HashSet<Vec<u8>>,
}

const MAX_FINDINGS: usize = 100_000;

impl Chains {
    fn new(ctx: Context) -> Self {
        Chains {
            ctx,
            current: None,
            next_seq: 1,
            prev_hash: ZERO_HASH.to_vec(),
            last_seq: None,
            missing_run: None,
            tenants: 0,
            events: 0,
            erased: 0,
            findings: vec![],
            heads: vec![],
            seen: HashSet::new(),
        }
    }

    fn find(&mut self, tenant: &[u8], seq: Option<i64>, kind: FindingKind, detail: String) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding { tenant: String::from_utf8_lossy(tenant).into_owned(), seq, kind, detail });
        }
    }

    fn start(&mut self, tenant: &[u8]) {
        let (seq, hash) = self.ctx.checkpoints.get(tenant).cloned().unwrap_or((0, ZERO_HASH.to_vec()));
        self.current = Some(tenant.to_vec());
        self.next_seq = seq + 1;
        self.prev_hash = hash;
        self.last_seq = None;
        self.missing_run = None;
        self.tenants += 1;
        self.seen.insert(tenant.to_vec());
    }

    fn step(&mut self, tenant: &[u8], l: Linked) {
        if self.current.as_deref() != Some(tenant) {
            self.end_tenant();
            self.start(tenant);
        }
        self.events += 1;
        let (seq, prev, c, hash) = (l.seq, l.prev.as_slice(), l.checked, l.hash);
        if c.row_missing {
            self.row_gone(tenant, seq);
        } else {
            self.missing_run = None;
        }
        if Some(seq) == self.last_seq {
            self.find(tenant, Some(seq), FindingKind::DuplicateSeq, format!("a second row with seq {seq}: the chain forked or a row was inserted"));
        } else if seq > self.next_seq {
            let detail = format!("seq {}..{} missing: rows deleted", self.next_seq, seq - 1);
            self.find(tenant, Some(self.next_seq), FindingKind::MissingRows, detail);
        } else if seq < self.next_seq {
            self.find(tenant, Some(seq), FindingKind::LinkBroken, format!("seq {seq} appears after seq {}", self.next_seq - 1));
        } else if prev != self.prev_hash.as_slice() {
            self.find(tenant, Some(seq), FindingKind::LinkBroken, "prev_hash is not the previous row's hash: rows inserted, deleted or reordered".into());
        }
        if !c.link_ok {
            self.find(tenant, Some(seq), FindingKind::RowEdited, "the row does not match its hash: edited (or forged)".into());
        }
        match c.payload_ok {
            Some(true) => {}
            Some(false) if l.payload_absent && !self.ctx.erasure_tenants.contains(tenant) => {
                self.find(tenant, Some(seq), FindingKind::PayloadRemoved, "payload removed with no erasure recorded for this tenant".into())
            }
            Some(false) => self.find(tenant, Some(seq), FindingKind::PayloadEdited, "old_value/new_value do not match the sealed payload hash".into()),
            None if self.ctx.erasure_tenants.contains(tenant) => self.erased += 1,
            None => self.find(tenant, Some(seq), FindingKind::PayloadRemoved, "marked erased but no erasure is recorded for this tenant".into()),
        }
        if let Some((aseq, ahash)) = self.ctx.anchor.get(tenant) {
            if *aseq == seq && *ahash != hash {
                let detail = "the anchored hash differs: the chain was rewritten and recomputed".into();
                self.find(tenant, Some(seq), FindingKind::AnchorMismatch, detail);
            }
        }
        self.next_seq = seq.max(self.next_seq - 1) + 1;
        self.last_seq = Some(seq);
        self.prev_hash = hash;
    }

    /// A link whose log row is gone: one finding for each run of consecutive seqs.
    fn row_gone(&mut self, tenant: &[u8], seq: i64) {
        match self.missing_run {
            Some(first) if self.last_seq == Some(seq - 1) => {
                if let Some(f) = self.findings.last_mut().filter(|f| f.kind == FindingKind::MissingRows && f.seq == Some(first)) {
                    f.detail = format!("the rows of seq {first}..{seq} are gone: deleted");
                }
            }
            _ => {
                self.missing_run = Some(seq);
                self.find(tenant, Some(seq), FindingKind::MissingRows, format!("the row of seq {seq} is gone: deleted"));
            }
        }
    }

    /// Rows at or below the floor that met no link.
    fn unlinked(&mut self, tenants: &Tenants, rows_met: &[u64]) {
        let met = |t: &[u8]| tenants.ids.get(t).and_then(|i| rows_met.get(*i as usize)).copied().unwrap_or(0);
        let mut extra: Vec<(Vec<u8>, u64)> = self
            .ctx
            .rows_below_floor
            .iter()
            .filter_map(|(t, n)| n.checked_sub(met(t)).filter(|d| *d > 0).map(|d| (t.clone(), d)))
            .collect();
        extra.sort();
        for (tenant, n) in extra {
            let detail = format!("{n} rows below the sealer's floor are in no chain: inserted after sealing");
            self.find(&tenant, None, FindingKind::Unlinked, detail);
        }
    }

    /// Tail checks against the head table and the anchor.
    fn end_tenant(&mut self) {
        let Some(tenant) = self.current.take() else { return };
        let last = self.next_seq - 1;
        if let Some((hseq, hhash)) = self.ctx.heads.get(&tenant).cloned() {
            if hseq > last {
                self.find(&tenant, Some(last + 1), FindingKind::TruncatedTail, format!("seq {}..{hseq} (up to the recorded head) are gone", last + 1));
            } else if hseq < last {
                self.find(&tenant, Some(hseq + 1), FindingKind::RowsAfterHead, format!("rows {}..{last} lie beyond the sealed head", hseq + 1));
            } else if hhash != self.prev_hash {
                self.find(&tenant, Some(last), FindingKind::HeadMismatch, "the last row's hash is not the recorded head".into());
            }
        }
        if let Some((aseq, _)) = self.ctx.anchor.get(&tenant).cloned() {
            if aseq > last {
                self.find(&tenant, Some(last + 1), FindingKind::AnchorTruncated, format!("the chain ends at seq {last}, the anchor holds seq {aseq}"));
            }
        }
        if last > 0 {
            let tenant_text = String::from_utf8_lossy(&tenant).into_owned();
            self.heads.push(Head { tenant: tenant_text, seq: last, hash: hex::encode(&self.prev_hash) });
        }
    }

    /// Tenants known to the head table or the anchor that have no rows at all.
    fn finish(mut self) -> Self {
        self.end_tenant();
        let mut gone: Vec<Vec<u8>> =
            self.ctx.heads.keys().chain(self.ctx.anchor.keys()).filter(|t| !self.seen.contains(*t)).cloned().collect();
        gone.sort();
        gone.dedup();
        for tenant in gone {
            self.start(&tenant);
            self.tenants -= 1;
            self.end_tenant();
        }
        self
    }
}

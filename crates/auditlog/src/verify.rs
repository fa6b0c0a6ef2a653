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
use crate::links::{self, Field, LinkIndex};

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

// Column order of the log COPY below.
const ID: usize = 0;
const TENANT: usize = 1;
const ACTOR: usize = 2;
const ACTION: usize = 3;
const ENTITY: usize = 4;
const ENTITY_ID: usize = 5;
const OLD: usize = 6;
const NEW: usize = 7;
const AT: usize = 8;
const TXID: usize = 9;
const ERASED: usize = 10;

const CHUNK_ROWS: usize = 8192;

pub async fn verify(client: &mut Client, opts: &VerifyOptions) -> Result<Report, UseError> {
    verify_with(client, &[], opts).await
}

/// [`verify`], reading through `client` and each of `helpers` at once (more connections to
/// the same database, each a server backend of its own): every connection copies the link
/// runs and then the log rows that fall to it, in one snapshot exported by `client`'s
/// transaction. The server's side of the log copy (jsonb as text, the binary send) is most
/// of verify's database time and runs on one core per connection.
pub async fn verify_with(client: &mut Client, helpers: &[Client], opts: &VerifyOptions) -> Result<Report, UseError> {
    let started = Instant::now();
    crate::scaffold::check_ident(&opts.schema).map_err(|e| UseError::Other(e.to_string()))?;
    require_log(client, &opts.schema).await?;
    let s = &opts.schema;
    // One snapshot for rows, links, heads and checkpoints, so a running sealer is not a finding.
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
    // Rows above the sealer's floor are not linked yet (overdue past the bound); rows at or
    // below it must each have met a link. `now` in PostgreSQL's microseconds since 2000.
    let floor_sql = format!(
        "SELECT s.floor, (extract(epoch FROM clock_timestamp()) * 1000000)::int8 - {PG_EPOCH_OFFSET_MICROS} FROM {s}.seal_state s"
    );
    let (floor, now): (i64, i64) = match tx.query_opt(&floor_sql, &[]).await.map_err(read_failed)? {
        Some(r) => (r.get(0), r.get(1)),
        None => (0, 0),
    };

    // The helpers take this snapshot before anything is read.
    let n = helpers.len() + 1;
    let joined = async {
        if n > 1 {
            let snapshot: String = tx.query_one("SELECT pg_export_snapshot()", &[]).await.map_err(read_failed)?.get(0);
            for h in helpers.iter() {
                h.batch_execute(&format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"))
                    .await
                    .map_err(read_failed)?;
            }
        }
        Ok::<_, UseError>(())
    }
    .await;
    if let Err(e) = joined {
        end_helpers(helpers).await;
        return Err(e);
    }
    let result = read_and_check(&tx, helpers, s, floor, now, ctx, opts.seal_bound_secs).await;
    end_helpers(helpers).await;
    let (chain, unsealed, overdue) = result?;
    let mut report = Report { anchor_checked: opts.anchor.is_some(), unsealed, findings: overdue, ..Report::default() };
    report.holes = find_holes(&tx, s, opts.anchor.is_some(), report.unsealed).await?;
    tx.commit().await.map_err(read_failed)?;

    report.tenants = chain.tenants;
    report.events = chain.events;
    report.erased = chain.erased;
    report.findings.extend(chain.findings);
    report.heads = chain.heads;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Reads the link runs, then the log (each split over the connections), and walks the
/// chains: the chains, the unsealed row count and the overdue findings.
async fn read_and_check(
    tx: &tokio_postgres::Transaction<'_>,
    helpers: &[Client],
    s: &str,
    floor: i64,
    now: i64,
    ctx: Context,
    seal_bound_secs: f64,
) -> Result<(Chains, u64, Vec<Finding>), UseError> {
    let n = helpers.len() + 1;
    let log_copy = |i: usize| {
        // abs(): a forged row may carry a negative id, whose remainder is negative.
        let part = if n > 1 { format!(" WHERE abs(l.id % {n}) = {i}") } else { String::new() };
        format!(
            "COPY (SELECT l.id, l.tenant_id, l.actor, l.action, l.entity, l.entity_id, l.old_value::text, l.new_value::text, \
             l.at, l.txid, l.erased_at IS NOT NULL FROM {s}.log l{part}) TO STDOUT (FORMAT binary)"
        )
    };
    // The runs as stored (a few thousand rows per million links), split by first seq.
    let link_copy = |i: usize| {
        let part = if n > 1 { format!(" WHERE abs(k.first_seq % {n}) = {i}") } else { String::new() };
        format!(
            "COPY (SELECT k.tenant_id, k.first_seq, k.prev_hash, k.ids, k.payload_hashes, k.hashes FROM {s}.link_run k{part}) \
             TO STDOUT (FORMAT binary)"
        )
    };
    // Every connection copies its part of the links, then its part of the log: the links
    // load on all of them at once, and each log part starts as soon as its links are read
    // (its rows wait in the bounded channel until the link index is complete).
    let conns: Vec<&Client> = std::iter::once(tx.client()).chain(helpers.iter()).collect();
    let (link_tx, mut link_rx) = tokio::sync::mpsc::channel::<Vec<RawRow>>(4);
    let mut link_pumps = Vec::with_capacity(n);
    for (i, c) in conns.iter().enumerate() {
        let stream = Box::pin(c.copy_out(link_copy(i).as_str()).await.map_err(read_failed)?);
        link_pumps.push(tokio::spawn(pump(stream, link_tx.clone())));
    }
    drop(link_tx);
    let index = async {
        let mut tenants = Tenants::default();
        let mut links = LinkIndex::default();
        let mut bad = None;
        while let Some(chunk) = link_rx.recv().await {
            for r in &chunk {
                let t = tenants.id(r.get(links::R_TENANT).unwrap_or_default());
                if let Err(e) = links.push_run(t, r) {
                    bad.get_or_insert(UseError::Other(format!("reading the audit log failed: {e}")));
                }
            }
        }
        links.seal();
        (tenants, links, bad)
    };
    let open_logs = async {
        let mut streams = Vec::with_capacity(n);
        for (i, c) in conns.iter().enumerate() {
            streams.push(Box::pin(c.copy_out(log_copy(i).as_str()).await.map_err(read_failed)?));
        }
        Ok::<_, UseError>(streams)
    };
    let ((tenants, links, bad), streams) = tokio::join!(index, open_logs);
    if let Some(e) = joined_errors(link_pumps).await.into_iter().next().or(bad) {
        return Err(e);
    }
    let streams = streams?;

    let (chunks, rx) = tokio::sync::mpsc::channel::<Vec<RawRow>>(4);
    let checker = std::thread::spawn(move || check_all(rx, links, tenants, ctx, floor, now, seal_bound_secs));
    // Each pump is a task of its own, so it runs where its connection's task wakes it (the
    // same worker thread) instead of crossing threads for every batch of messages: the
    // futex wake-ups that cost more client CPU than the hashing.
    let pumps: Vec<_> = streams.into_iter().map(|stream| tokio::spawn(pump(stream, chunks.clone()))).collect();
    drop(chunks);
    let read_errors = joined_errors(pumps).await;
    let checked = checker.join().map_err(|_| UseError::Other("the verifier thread failed".into()))?;
    if let Some(e) = read_errors.into_iter().next() {
        return Err(e);
    }
    Ok(checked)
}

/// The checker thread: each log row is hashed against its links in parallel as it arrives;
/// then the links, with what their rows gave, are walked per tenant in seq order.
fn check_all(
    mut rx: tokio::sync::mpsc::Receiver<Vec<RawRow>>,
    links: LinkIndex,
    mut tenants: Tenants,
    ctx: Context,
    floor: i64,
    now: i64,
    seal_bound_secs: f64,
) -> (Chains, u64, Vec<Finding>) {
    // Per interned row tenant: rows at or below the floor that no link names, rows above it
    // and the oldest of those.
    let mut per_tenant: Vec<RowCounts> = Vec::new();
    let mut met = vec![false; links.len()];
    let mut linked: Vec<Linked> = Vec::with_capacity(links.len());
    while let Some(chunk) = rx.blocking_recv() {
        let checks: Vec<(usize, RowChecks)> = chunk
            .par_iter()
            .enumerate()
            .map_init(|| Vec::with_capacity(512), |buf, (i, row)| (i, check_row(row, &links, buf)))
            .collect();
        for (i, pairs) in checks {
            let row = &chunk[i];
            let t = tenants.id(row.get(TENANT).unwrap_or_default()) as usize;
            if per_tenant.len() <= t {
                per_tenant.resize(t + 1, RowCounts::default());
            }
            let c = &mut per_tenant[t];
            let id = row.i64(ID).unwrap_or(0);
            if id <= floor {
                // At or below the floor every row must be in a chain.
                c.unlinked += u64::from(pairs.is_empty());
            } else {
                c.unsealed += 1;
                let at = row.i64(AT).unwrap_or(i64::MAX);
                c.oldest_unsealed = Some(c.oldest_unsealed.map_or(at, |o: i64| o.min(at)));
            }
            let payload_absent = row.get(OLD).is_none() && row.get(NEW).is_none();
            for (l, checked) in pairs {
                met[l as usize] = true;
                let r = &links.recs[l as usize];
                linked.push(Linked { tenant: r.tenant, seq: r.seq, link: l, payload_absent, checked });
            }
        }
    }
    // Links whose row is gone.
    for (l, _) in met.iter().enumerate().filter(|(_, m)| !**m) {
        let checked = Checked { link_ok: true, payload_ok: Some(true), row_missing: true };
        let r = &links.recs[l];
        linked.push(Linked { tenant: r.tenant, seq: r.seq, link: l as u32, payload_absent: true, checked });
    }
    // The sort key is kept inline: looking it up through the link index cost a tenth of verify's CPU.
    linked.par_sort_unstable_by_key(|l| (l.tenant, l.seq));

    let mut unsealed = 0;
    let mut overdue = Vec::new();
    let mut unlinked = Vec::new();
    for (t, c) in per_tenant.iter().enumerate() {
        let name = &tenants.names[t];
        unsealed += c.unsealed;
        if c.unlinked > 0 {
            unlinked.push((name.clone(), c.unlinked));
        }
        let age = c.oldest_unsealed.map_or(0.0, |at| (now.saturating_sub(at)) as f64 / 1e6);
        if c.unsealed > 0 && age > seal_bound_secs {
            overdue.push(Finding {
                tenant: String::from_utf8_lossy(name).into_owned(),
                seq: None,
                kind: FindingKind::UnsealedOverdue,
                detail: format!("{} rows unsealed, oldest {age:.0}s old (bound {seal_bound_secs:.0}s): is the sealer running?", c.unsealed),
            });
        }
    }
    overdue.sort_by(|a, b| a.tenant.cmp(&b.tenant));
    let mut chain = Chains::new(ctx);
    for l in linked {
        let step = Step {
            seq: l.seq,
            prev: links.field(l.link, Field::Prev),
            hash: links.field(l.link, Field::Hash),
            payload_absent: l.payload_absent,
            checked: l.checked,
        };
        chain.step(&tenants.names[l.tenant as usize], step);
    }
    chain.unlinked(unlinked);
    (chain.finish(), unsealed, overdue)
}

#[derive(Clone, Copy, Default)]
struct RowCounts {
    /// Rows at or below the floor that no link names.
    unlinked: u64,
    unsealed: u64,
    oldest_unsealed: Option<i64>,
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

/// The read errors of finished pump tasks.
async fn joined_errors(pumps: Vec<tokio::task::JoinHandle<Option<UseError>>>) -> Vec<UseError> {
    let mut errors = Vec::new();
    for p in pumps {
        match p.await {
            Ok(Some(e)) => errors.push(e),
            Ok(None) => {}
            Err(_) => errors.push(UseError::Other("reading the audit log failed: a reader task panicked".into())),
        }
    }
    errors
}

/// One COPY stream into the checker, in chunks of rows; the first read error, if any.
async fn pump(
    mut stream: std::pin::Pin<Box<tokio_postgres::CopyOutStream>>,
    chunks: tokio::sync::mpsc::Sender<Vec<RawRow>>,
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
                    if chunks.send(full).await.is_err() {
                        break None;
                    }
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(read_failed(e)),
        }
    };
    let _ = chunks.send(rows).await;
    error
}

#[derive(Default)]
struct Context {
    heads: HashMap<Vec<u8>, (i64, Vec<u8>)>,
    checkpoints: HashMap<Vec<u8>, (i64, Vec<u8>)>,
    erasure_tenants: HashSet<Vec<u8>>,
    anchor: HashMap<Vec<u8>, (i64, Vec<u8>)>,
}

#[derive(Clone, Copy)]
struct Checked {
    link_ok: bool,
    /// None: no payload to check (erased).
    payload_ok: Option<bool>,
    /// The link's log row is gone.
    row_missing: bool,
}

/// What a log row gave each link naming its id: one link, as a rule (no allocation);
/// more only if links were forged.
#[derive(Default)]
struct RowChecks {
    first: Option<(u32, Checked)>,
    more: Vec<(u32, Checked)>,
}

impl RowChecks {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

impl IntoIterator for RowChecks {
    type Item = (u32, Checked);
    type IntoIter = std::iter::Chain<std::option::IntoIter<(u32, Checked)>, std::vec::IntoIter<(u32, Checked)>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.more)
    }
}

/// The per-row work, done in parallel: the row against each link naming its id (one,
/// unless links were forged), each link needing only its own stored prev_hash.
fn check_row(r: &RawRow, links: &LinkIndex, buf: &mut Vec<u8>) -> RowChecks {
    let id = r.i64(ID).unwrap_or(0);
    let mut out = RowChecks::default();
    let mut computed_payload = None;
    for l in links.of(id) {
        // Hashed with the row's own tenant: a row moved to another tenant no longer matches.
        let row_tenant = r.get(TENANT).unwrap_or_default();
        let stored_payload_hash = links.field(l, Field::PayloadHash);
        let (old, new) = (r.get(OLD), r.get(NEW));
        let erased = r.bool(ERASED).unwrap_or(false) && old.is_none() && new.is_none();
        let payload_ok = (!erased).then(|| *computed_payload.get_or_insert_with(|| payload_hash(old, new)) == stored_payload_hash);
        let link = Link {
            tenant_id: row_tenant,
            seq: links.recs[l as usize].seq,
            actor: r.get(ACTOR),
            action: r.get(ACTION).unwrap_or_default(),
            entity: r.get(ENTITY).unwrap_or_default(),
            entity_id: r.get(ENTITY_ID),
            at_unix_micros: r.i64(AT).unwrap_or(0).saturating_add(PG_EPOCH_OFFSET_MICROS),
            txid: r.i64(TXID).unwrap_or(0),
            payload_hash: stored_payload_hash,
        };
        link_bytes_into(buf, links.field(l, Field::Prev), &link);
        let link_ok = Sha256::digest(&buf[..]).as_slice() == links.field(l, Field::Hash);
        let checked = (l, Checked { link_ok, payload_ok, row_missing: false });
        if out.first.is_none() {
            out.first = Some(checked);
        } else {
            out.more.push(checked);
        }
    }
    out
}

/// A link with what its row gave, until the walk.
struct Linked {
    tenant: u32,
    seq: i64,
    link: u32,
    /// Both old_value and new_value are NULL.
    payload_absent: bool,
    checked: Checked,
}

/// One link as the chain walk sees it.
struct Step<'a> {
    seq: i64,
    prev: &'a [u8],
    hash: &'a [u8],
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

    fn step(&mut self, tenant: &[u8], l: Step<'_>) {
        if self.current.as_deref() != Some(tenant) {
            self.end_tenant();
            self.start(tenant);
        }
        self.events += 1;
        let (seq, prev, c, hash) = (l.seq, l.prev, l.checked, l.hash);
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
            if *aseq == seq && ahash.as_slice() != hash {
                let detail = "the anchored hash differs: the chain was rewritten and recomputed".into();
                self.find(tenant, Some(seq), FindingKind::AnchorMismatch, detail);
            }
        }
        self.next_seq = seq.max(self.next_seq - 1) + 1;
        self.last_seq = Some(seq);
        self.prev_hash.clear();
        self.prev_hash.extend_from_slice(hash);
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
    fn unlinked(&mut self, mut extra: Vec<(Vec<u8>, u64)>) {
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

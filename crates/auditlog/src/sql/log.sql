-- Objects below are created as the NOLOGIN owner so that no login role owns (and can
-- therefore ALTER, DISABLE TRIGGER on or DROP) the log.
SET LOCAL ROLE @owner@;

CREATE SEQUENCE IF NOT EXISTS @schema@.log_id_seq;
-- CACHE 1: the sealer (seal_claim) reads last_value as "every id drawn so far".
ALTER SEQUENCE @schema@.log_id_seq CACHE 1;

-- The log holds events only; the sealer links them into per-tenant chains in @schema@.link_run.
-- A row is never rewritten (the owner's erasure of a payload aside): writers insert, nobody
-- updates. Partitioned by month on `at` so retention can drop whole months (see
-- drop_partitions_before and checkpoint).
CREATE TABLE IF NOT EXISTS @schema@.log (
    id           bigint      NOT NULL DEFAULT nextval('@schema@.log_id_seq'),
    tenant_id    text        NOT NULL,
    actor        text,
    action       text        NOT NULL,
    entity       text        NOT NULL,
    entity_id    text,
    old_value    jsonb,
    new_value    jsonb,
    at           timestamptz NOT NULL DEFAULT now(),
    txid         bigint      NOT NULL DEFAULT txid_current(),
    erased_at    timestamptz
) PARTITION BY RANGE (at);
ALTER SEQUENCE @schema@.log_id_seq OWNED BY @schema@.log.id;

-- Logs scaffolded before stop 11 kept each link in its row (seq and hash columns, written by
-- an UPDATE at sealing). This migration does not convert one in place: refuse before
-- anything else changes.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '@schema@.log'::regclass AND attname = 'seq' AND NOT attisdropped) THEN
        RAISE EXCEPTION '@schema@.log has the earlier layout (links inside the log rows); this migration keeps them in @schema@.link_run'
            USING HINT = 'scaffold the log into a new schema (--schema), point the capture triggers at it, and keep the old one read-only until you no longer need to verify it';
    END IF;
END $$;

-- A writer takes its transaction id before it draws its row id: the sealer's safe point
-- relies on it (seal_claim). The capture functions and record() use this default.
ALTER TABLE @schema@.log ALTER COLUMN id
    SET DEFAULT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('@schema@.log_id_seq') END;

-- Every index on the log is paid by every business write. So the log has one index, a BRIN
-- on id that writers almost never touch (a new row lands in a page range that is not
-- summarised yet): the sealer reads the next id window through it. Serve tenants' reads of
-- their own events? Add an index on (tenant_id, at) knowing what it costs each write.
DROP INDEX IF EXISTS @schema@.log_unsealed;
DROP INDEX IF EXISTS @schema@.log_at;
DROP INDEX IF EXISTS @schema@.log_unsealed_id;
DROP INDEX IF EXISTS @schema@.log_tenant_seq;
CREATE INDEX IF NOT EXISTS log_id_brin ON @schema@.log USING brin (id) WITH (pages_per_range = 32, autosummarize = on);
CREATE TABLE IF NOT EXISTS @schema@.log_default PARTITION OF @schema@.log DEFAULT;

-- The chains, in runs: each row holds up to 64 consecutive links of one tenant (its first
-- seq, the hash before it, and per link the row id, payload hash and hash), inserted once by
-- the sealer, never updated. Kept apart from the wide log rows, and in runs because a row
-- per link cost the sealer an insert and a primary-key entry per event, which the writers
-- paid for on a shared server (docs/audit-log.md, Speed). A run fits in one page
-- (toast_tuple_target: no TOAST), so verify reads it whole. PRIMARY KEY (tenant_id,
-- first_seq) and seal_store (the only writer, under the sealer's lock: each run continues
-- its tenant's head, which moves in the same statement) keep runs from overlapping; verify
-- reports a seq met twice as a fork.
CREATE TABLE IF NOT EXISTS @schema@.link_run (
    tenant_id      text     NOT NULL,
    first_seq      bigint   NOT NULL,
    prev_hash      bytea    NOT NULL,
    ids            bigint[] NOT NULL,
    payload_hashes bytea[]  NOT NULL,
    hashes         bytea[]  NOT NULL,
    PRIMARY KEY (tenant_id, first_seq),
    CONSTRAINT link_run_shape CHECK (array_ndims(ids) = 1 AND array_lower(ids, 1) = 1
        AND array_lower(payload_hashes, 1) = 1 AND array_lower(hashes, 1) = 1
        AND cardinality(payload_hashes) = cardinality(ids) AND cardinality(hashes) = cardinality(ids))
) WITH (toast_tuple_target = 8160);

-- Logs scaffolded before stop 15 kept one row per link in a table named link: each becomes
-- a run of one link (the chains and hashes are unchanged), and link becomes the view below.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass('@schema@.link') AND relkind = 'r') THEN
        INSERT INTO @schema@.link_run (tenant_id, first_seq, prev_hash, ids, payload_hashes, hashes)
        SELECT k.tenant_id, k.seq, k.prev_hash, ARRAY[k.id], ARRAY[k.payload_hash], ARRAY[k.hash] FROM @schema@.link k;
        DROP TABLE @schema@.link;
    END IF;
END $$;

-- One row per link, as tests, retention and people read the chains: each link's seq, row id,
-- hashes and prev_hash (the run's prev_hash for its first link, else the link before it),
-- and run_seq, the first seq of its run. security_invoker: read with the caller's rights.
CREATE OR REPLACE VIEW @schema@.link WITH (security_invoker = true) AS
SELECT r.tenant_id, r.first_seq + u.o - 1 AS seq, u.id, u.payload_hash, u.prev_hash, u.hash, r.first_seq AS run_seq
  FROM @schema@.link_run r
 CROSS JOIN LATERAL unnest(r.ids, r.payload_hashes, r.hashes, (r.prev_hash || r.hashes)[1:cardinality(r.ids)])
       WITH ORDINALITY AS u(id, payload_hash, hash, prev_hash, o);

-- The last sealed link of each tenant: the sealer's lock and the verifier's tail check.
CREATE TABLE IF NOT EXISTS @schema@.head (
    tenant_id text PRIMARY KEY,
    seq       bigint      NOT NULL,
    hash      bytea       NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- The sealer's progress. Every row with id <= floor is linked (or was never committed);
-- rows with id <= safe are final (their writers have ended), so the sealer links the window
-- (floor, safe] in id order. pending_max / pending_xid are the next safe candidate: once
-- every transaction up to pending_xid has ended, no row with id <= pending_max can still
-- appear (seal_claim).
CREATE TABLE IF NOT EXISTS @schema@.seal_state (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    floor       bigint  NOT NULL DEFAULT 0,
    pending_max bigint,
    pending_xid xid8
);
ALTER TABLE @schema@.seal_state ADD COLUMN IF NOT EXISTS safe bigint NOT NULL DEFAULT 0;
INSERT INTO @schema@.seal_state DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Where a chain resumes after retention dropped the partitions holding its start.
CREATE TABLE IF NOT EXISTS @schema@.checkpoint (
    tenant_id text        NOT NULL,
    seq       bigint      NOT NULL,
    hash      bytea       NOT NULL,
    partition text        NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, seq)
);

-- Every erasure, so that verify can tell an erased payload from a deleted one.
CREATE TABLE IF NOT EXISTS @schema@.erasure (
    id        bigserial PRIMARY KEY,
    tenant_id text        NOT NULL,
    entity    text,
    entity_id text,
    reason    text        NOT NULL,
    rows      bigint      NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS erasure_tenant ON @schema@.erasure (tenant_id, at);

-- Tenants read only their own events (the context is read once per statement, not per row).
ALTER TABLE @schema@.log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_reads_own ON @schema@.log;
CREATE POLICY tenant_reads_own ON @schema@.log FOR SELECT
    USING (tenant_id = (SELECT current_setting('app.current_tenant', true)));
-- The owner-only tables hold tenant ids too: RLS with no policy denies every role but the
-- owner (whose functions do the work), so a stray GRANT later cannot expose them.
ALTER TABLE @schema@.head ENABLE ROW LEVEL SECURITY;
ALTER TABLE @schema@.link_run ENABLE ROW LEVEL SECURITY;
ALTER TABLE @schema@.checkpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE @schema@.erasure ENABLE ROW LEVEL SECURITY;
ALTER TABLE @schema@.seal_state ENABLE ROW LEVEL SECURITY;

-- Canonical encoding v1 (docs/audit-log.md): a text field is 0x01, its UTF-8 bytes, 0x00;
-- NULL is the single byte 0x00. PostgreSQL text never holds a NUL byte, so this is
-- unambiguous, and each field is referenced once, which keeps these SQL functions inlinable
-- without evaluating an argument twice.
CREATE OR REPLACE FUNCTION @schema@.enc(v text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT coalesce('\x01'::bytea || convert_to(v, 'UTF8') || '\x00'::bytea, '\x00'::bytea) $f$;

CREATE OR REPLACE FUNCTION @schema@.ts_text(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $f$;

-- 'tgal1/payload' || enc(old::text) || enc(new::text)
-- (payload_hash_text: the same over the jsonb's text, as seal_claim hands it out.)
CREATE OR REPLACE FUNCTION @schema@.payload_hash_text(old_text text, new_text text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT sha256('\x7467616c312f7061796c6f6164'::bytea || @schema@.enc(old_text) || @schema@.enc(new_text)) $f$;

CREATE OR REPLACE FUNCTION @schema@.payload_hash(old_value jsonb, new_value jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT @schema@.payload_hash_text(old_value::text, new_value::text) $f$;

-- The part of a link that does not depend on its place in the chain:
-- enc(tenant) || enc(actor) || enc(action) || enc(entity) || enc(entity_id) || enc(at as UTC text) || int8(txid)
CREATE OR REPLACE FUNCTION @schema@.link_body(tenant_id text, actor text, action text, entity text,
    entity_id text, at timestamptz, txid bigint)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT @schema@.enc(tenant_id) || @schema@.enc(actor) || @schema@.enc(action) || @schema@.enc(entity)
              || @schema@.enc(entity_id) || @schema@.enc(@schema@.ts_text(at)) || int8send(txid) $f$;

-- sha256('tgal1/link' || prev || int8(seq) || link_body || payload_hash)
CREATE OR REPLACE FUNCTION @schema@.link_hash(prev bytea, tenant_id text, seq bigint, actor text,
    action text, entity text, entity_id text, at timestamptz, txid bigint, payload_hash bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT sha256('\x7467616c312f6c696e6b'::bytea || prev || int8send(seq)
                     || @schema@.link_body(tenant_id, actor, action, entity, entity_id, at, txid) || payload_hash) $f$;

-- Where each tenant's chain continues: its head, else (after retention dropped the months
-- holding its start) its latest checkpoint, else seq 0 and 32 zero bytes. The one definition
-- every sealer uses; callers lock the head rows first.
CREATE OR REPLACE FUNCTION @schema@.chain_tips(p_tenants text[])
RETURNS TABLE (tenant_id text, head_seq bigint, head_hash bytea) LANGUAGE sql STABLE
AS $f$
    SELECT t.t,
           coalesce(h.seq, cp.seq, 0),
           coalesce(h.hash, cp.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
      FROM unnest(p_tenants) AS t(t)
      LEFT JOIN @schema@.head h ON h.tenant_id = t.t
      LEFT JOIN LATERAL (SELECT c.seq, c.hash FROM @schema@.checkpoint c WHERE c.tenant_id = t.t
                          ORDER BY c.seq DESC LIMIT 1) cp ON h.tenant_id IS NULL
$f$;

-- The sealer. One at a time: seal_claim locks the seal_state row until its transaction ends
-- (a second sealer skips the round instead of waiting), links the window of ids above the
-- floor in id order, and seal_store inserts the links and moves the floor. Writers never
-- wait on it or on each other; an event is linked within about one sealer period.
--
-- Why the window (floor, safe] is final: a writer takes its xid before it draws its id (the
-- log's id default, the C capture function). The sealer reads the sequence's last_value m
-- first, then takes its own xid. Every writer that drew an id <= m got its xid before that,
-- so once no transaction older than the sealer's own is running (its snapshot's xmin is
-- its own xid), all of them have ended: rows up to m are visible or never will be. Under
-- load an older writer is usually still running; then (m, own xid) is kept as the pending
-- candidate and becomes safe at a later round, once xmin has passed that xid. A transaction
-- that stays open holds sealing back for every tenant (verify reports rows unsealed past
-- its bound); keep audited transactions short.
--
-- The sealers' queries read id ranges through the BRIN; a cached generic plan cannot see how
-- narrow a range is and may scan the whole log, so they are planned for their values each
-- time (plan_cache_mode = force_custom_plan: a fraction of a millisecond per batch). Even so,
-- a partition not analysed yet (a new month, or one filling faster than autovacuum analyses
-- it) looks tiny to the planner, which then reads all of it for every range: enable_seqscan
-- = off keeps the sealers on the BRIN (5 to 6 whole-partition scans per batch before). That
-- setting prices every plan above jit_above_cost, and JIT compiling each query cost more
-- than running it (30% of the sealer's CPU), hence jit = off.
--
-- A bitmap scan on the BRIN reads every page range not summarised yet. autosummarize leaves
-- that to autovacuum (its next round, up to a minute away, and only 256 requests are queued:
-- a busy log outruns it), so every claim would read most of the log. The sealer summarises
-- each partition's complete ranges itself, from where it got to last time (seal_brin), never
-- the range still being filled (writers would then pay to widen its summary). NOWAIT: a
-- partition vacuum is working on is skipped this time.
CREATE TABLE IF NOT EXISTS @schema@.seal_brin (
    part       oid    PRIMARY KEY,
    next_block bigint NOT NULL
);
ALTER TABLE @schema@.seal_brin ENABLE ROW LEVEL SECURITY;

CREATE OR REPLACE FUNCTION @schema@.seal_summarize()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE r record; last_full bigint; per_range constant integer := 32;  -- the index's pages_per_range
BEGIN
    FOR r IN SELECT i.indrelid::regclass AS part, i.indexrelid::regclass AS idx, coalesce(b.next_block, 0) AS next_block,
                    pg_relation_size(i.indrelid) / current_setting('block_size')::bigint AS blocks
               FROM pg_inherits h
               JOIN pg_index i ON i.indrelid = h.inhrelid
               JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_am a ON a.oid = c.relam AND a.amname = 'brin'
               LEFT JOIN @schema@.seal_brin b ON b.part = i.indrelid
              WHERE h.inhparent = '@schema@.log'::regclass
    LOOP
        last_full := (r.blocks / per_range - 1) * per_range;
        CONTINUE WHEN last_full < r.next_block;
        BEGIN
            EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE NOWAIT', r.part);
            FOR blk IN r.next_block .. last_full BY per_range LOOP
                PERFORM brin_summarize_range(r.idx, blk);
            END LOOP;
            INSERT INTO @schema@.seal_brin AS b (part, next_block) VALUES (r.part, last_full + per_range)
                ON CONFLICT (part) DO UPDATE SET next_block = greatest(b.next_block, excluded.next_block);
        EXCEPTION WHEN lock_not_available THEN
            NULL;
        END;
    END LOOP;
END $f$;

-- Functions of the earlier layout (links written into the log rows).
DROP FUNCTION IF EXISTS @schema@.seal_tenant(text, integer);
DROP FUNCTION IF EXISTS @schema@.seal_write(oid[], tid[], bigint[], text[], bigint[], bytea[], bytea[], bytea[]);
DROP FUNCTION IF EXISTS @schema@.seal_window(bigint, integer);
DROP FUNCTION IF EXISTS @schema@.seal_floor();

-- The sealer in Rust (ops::seal_once) hashes outside the database: in one READ COMMITTED
-- transaction it calls seal_claim, computes payload hashes and links, and hands them to
-- seal_store. seal_claim returns the rows of the next window of max_rows ids above the floor
-- (ids are unique, so only rolled-back writes leave holes and a window never holds more
-- than max_rows rows: no sort to cut it), each with its tenant's chain tip, its hash inputs
-- (jsonb as text, the bytes that are hashed) and `more`: whether
-- final rows wait beyond this window (the sealer goes on at once, a short batch with holes
-- included, instead of waiting out its period). An empty window moves the floor at once;
-- otherwise seal_store does, with the links. The rows come in no particular order: the
-- caller groups them per tenant in id order (a sort of wide rows in the claim cost the
-- database a fifth of its time per row; the Rust sealer sorts their keys).
-- seal_claim is dropped and created again (CREATE OR REPLACE cannot change its result
-- columns) and seal_store's arguments changed: a role granted EXECUTE on the earlier ones (a
-- sealer login) is granted it again on the new ones below.
DO $$
BEGIN
    PERFORM set_config('@schema@.sealer_grantees',
                       coalesce(string_agg(DISTINCT a.grantee::regrole::text, ','), ''), true)
       FROM pg_proc p, aclexplode(p.proacl) a
      WHERE p.pronamespace = '@schema@'::regnamespace AND p.proname IN ('seal_claim', 'seal_store')
        AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
END $$;
DROP FUNCTION IF EXISTS @schema@.seal_claim(integer);
CREATE FUNCTION @schema@.seal_claim(max_rows integer DEFAULT 10000)
RETURNS TABLE (tenant_id text, head_seq bigint, head_hash bytea, id bigint, at timestamptz, actor text,
               action text, entity text, entity_id text, old_text text, new_text text, txid bigint, more boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
#variable_conflict use_column
DECLARE fresh boolean := pg_current_xact_id_if_assigned() IS NULL; m bigint; st record; me xid8; lo bigint; hi bigint;
        n bigint;
BEGIN
    IF max_rows IS NULL OR max_rows < 1 THEN
        RAISE EXCEPTION 'seal_claim: max_rows must be at least 1';
    END IF;
    -- A sequence never drawn from shows last_value 1 with is_called false: nothing drawn yet.
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO m FROM @schema@.log_id_seq s;
    -- Takes this transaction's xid (after m was read).
    SELECT * INTO st FROM @schema@.seal_state FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;  -- another sealer holds it
    END IF;
    me := pg_current_xact_id();
    -- A snapshot's xmin counts the sealer's own xid: equal to it, no older writer is running.
    IF fresh AND pg_snapshot_xmin(pg_current_snapshot()) >= me THEN
        st.safe := greatest(st.safe, m);
        st.pending_xid := NULL;
    ELSIF st.pending_xid IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) > st.pending_xid THEN
        st.safe := greatest(st.safe, st.pending_max);
        st.pending_xid := NULL;
    END IF;
    IF st.pending_xid IS NULL AND fresh AND m > st.safe THEN
        st.pending_max := m;
        st.pending_xid := me;
    END IF;
    lo := st.floor;
    UPDATE @schema@.seal_state SET safe = st.safe, pending_max = st.pending_max, pending_xid = st.pending_xid;
    PERFORM @schema@.seal_summarize();
    LOOP
        hi := least(st.safe, lo + max_rows::bigint);
        -- What seal_store may store in this transaction: exactly the rows of this claim.
        PERFORM set_config('@schema@.claim', format('%s %s %s', lo, hi, max_rows), true);
        EXIT WHEN hi <= lo;
        RETURN QUERY
        WITH r AS MATERIALIZED (
            SELECT l.* FROM @schema@.log l WHERE l.id > lo AND l.id <= hi),
        -- MATERIALIZED: one lookup per tenant, not one per row.
        s AS MATERIALIZED (
            SELECT * FROM @schema@.chain_tips(ARRAY(SELECT DISTINCT r.tenant_id FROM r)))
        SELECT s.tenant_id, s.head_seq, s.head_hash, r.id, r.at, r.actor, r.action, r.entity, r.entity_id,
               r.old_value::text, r.new_value::text, r.txid, hi < st.safe
          FROM r JOIN s ON s.tenant_id = r.tenant_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        EXIT WHEN n > 0;
        -- Only rolled-back writes in this window: pass it, and look at the next one.
        UPDATE @schema@.seal_state SET floor = hi;
        lo := hi;
    END LOOP;
END $f$;

-- Store what the Rust sealer computed for the rows seal_claim returned in this transaction,
-- as runs: per run its tenant, first seq, the hash before it and its link count; per link
-- (flat, run after run) the row id, payload hash and hash. All the claimed rows and nothing
-- else; each tenant's runs together, the first continuing its chain tip, each later one the
-- run before it, ids rising; and the last link recomputed here as a check of the sealer's
-- encoding. Every other hash is checked by verify; a wrong one is a finding, never a
-- silent fork.
DROP FUNCTION IF EXISTS @schema@.seal_store(text[], bigint[], timestamptz[], bigint[], bytea[], bytea[], bytea[]);
DROP FUNCTION IF EXISTS @schema@.seal_store(text[], bigint[], timestamptz[], bigint[], bytea[], bytea[], bytea[], oid[], text[]);
DROP FUNCTION IF EXISTS @schema@.seal_store(text[], bigint[], bigint[], bytea[], bytea[], bytea[]);
CREATE OR REPLACE FUNCTION @schema@.seal_store(p_tenants text[], p_first_seqs bigint[], p_prev_hashes bytea[],
    p_counts integer[], p_ids bigint[], p_payload_hashes bytea[], p_hashes bytea[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE n integer := cardinality(p_ids); runs integer := cardinality(p_tenants);
        claim text[] := string_to_array(current_setting('@schema@.claim', true), ' ');
        offs integer[]; lo bigint; hi bigint; matched bigint; total bigint; bad text; split text; last_ok boolean;
        last_seq bigint; last_prev bytea;
BEGIN
    IF claim IS NULL OR cardinality(claim) <> 3 THEN
        RAISE EXCEPTION 'seal_store: no seal_claim in this transaction';
    END IF;
    IF n IS NULL OR n = 0 THEN
        RETURN 0;
    END IF;
    IF cardinality(p_payload_hashes) IS DISTINCT FROM n OR cardinality(p_hashes) IS DISTINCT FROM n
       OR runs IS NULL OR cardinality(p_first_seqs) IS DISTINCT FROM runs
       OR cardinality(p_prev_hashes) IS DISTINCT FROM runs OR cardinality(p_counts) IS DISTINCT FROM runs
       OR (SELECT sum(c) FROM unnest(p_counts) c) IS DISTINCT FROM n::bigint
       OR EXISTS (SELECT 1 FROM unnest(p_counts) c WHERE c IS NULL OR c < 1) THEN
        RAISE EXCEPTION 'seal_store: the arrays of this batch differ in length';
    END IF;
    -- Where each run's links start in the flat arrays (0-based).
    SELECT array_agg((q.s - q.c)::integer ORDER BY q.i) INTO offs
      FROM (SELECT x.i, x.c, sum(x.c) OVER (ORDER BY x.i) AS s FROM unnest(p_counts) WITH ORDINALITY AS x(c, i)) q;
    -- The batch covers its whole window: the floor moves to its end.
    lo := claim[1]::bigint;
    hi := claim[2]::bigint;
    -- Exactly the claimed rows, each once, each with its own tenant.
    SELECT count(*) FILTER (WHERE l.id IS NOT NULL AND x.id IS NOT NULL), count(*) INTO matched, total
      FROM (SELECT l.id, l.tenant_id FROM @schema@.log l WHERE l.id > lo AND l.id <= hi) l
      FULL JOIN (SELECT r.tenant_id, u.id
                   FROM unnest(p_tenants, p_counts, offs) AS r(tenant_id, c, off)
                  CROSS JOIN LATERAL unnest(p_ids[r.off + 1 : r.off + r.c]) AS u(id)) x
        ON x.id = l.id AND x.tenant_id = l.tenant_id;
    IF matched <> n OR total <> n THEN
        RAISE EXCEPTION 'seal_store: the batch is not the rows seal_claim returned (% of % match)', matched, n;
    END IF;
    -- The chain checks and the heads in one pass over the runs in their own order: each
    -- tenant's runs come together, the first continues the tenant's chain tip, each later
    -- one the run before it (seq, prev hash, a higher id), ids rise inside a run, and the
    -- tenant's last run ends at its new head. The head upsert runs in the same statement: if
    -- a check fails below, the exception undoes it with everything else in this transaction.
    WITH r AS MATERIALIZED (
        SELECT r.tenant_id, r.first_seq, r.prev, r.c, r.off, r.i,
               r.first_seq + r.c - 1 AS last_seq, p_hashes[r.off + r.c] AS last_hash,
               p_ids[r.off + 1] AS first_id, p_ids[r.off + r.c] AS last_id,
               coalesce((SELECT bool_and(u.a < u.b) FROM unnest(p_ids[r.off + 1 : r.off + r.c - 1], p_ids[r.off + 2 : r.off + r.c]) AS u(a, b)), true) AS rising
          FROM unnest(p_tenants, p_first_seqs, p_prev_hashes, p_counts, offs) WITH ORDINALITY AS r(tenant_id, first_seq, prev, c, off, i)),
    x AS MATERIALIZED (
        SELECT r.*, lag(r.tenant_id) OVER w AS lt, lag(r.last_seq) OVER w AS lseq, lag(r.last_hash) OVER w AS lh,
               lag(r.last_id) OVER w AS lid, lead(r.tenant_id) OVER w AS nt
          FROM r WINDOW w AS (ORDER BY r.i)),
    starts AS MATERIALIZED (
        SELECT x.tenant_id, x.first_seq, x.prev FROM x WHERE x.lt IS DISTINCT FROM x.tenant_id),
    -- MATERIALIZED: one lookup per tenant, not one per run.
    s AS MATERIALIZED (
        SELECT * FROM @schema@.chain_tips(ARRAY(SELECT DISTINCT st.tenant_id FROM starts st))),
    up AS (
        INSERT INTO @schema@.head AS h (tenant_id, seq, hash)
        SELECT DISTINCT ON (x.tenant_id) x.tenant_id, x.last_seq, x.last_hash
          FROM x WHERE x.nt IS DISTINCT FROM x.tenant_id ORDER BY x.tenant_id, x.i DESC
            ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, sealed_at = now())
    SELECT (SELECT string_agg(q.tenant_id, ', ') FROM (SELECT st.tenant_id FROM starts st GROUP BY 1 HAVING count(*) > 1) q),
           (SELECT string_agg(DISTINCT b.tenant_id, ', ')
              FROM (SELECT st.tenant_id FROM starts st JOIN s ON s.tenant_id = st.tenant_id
                     WHERE st.first_seq IS DISTINCT FROM s.head_seq + 1 OR st.prev IS DISTINCT FROM s.head_hash
                    UNION ALL
                    SELECT x.tenant_id FROM x
                     WHERE NOT x.rising
                        OR (x.lt = x.tenant_id
                            AND (x.first_seq IS DISTINCT FROM x.lseq + 1 OR x.prev IS DISTINCT FROM x.lh OR NOT x.first_id > x.lid))) b)
      INTO split, bad;
    IF split IS NOT NULL THEN
        RAISE EXCEPTION 'seal_store: the batch splits the rows of tenants % (each tenant''s rows must come together, in id order)', split;
    END IF;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'seal_store: the batch does not continue the chain of tenants %', bad;
    END IF;
    -- The sealer's encoding, checked on the batch's last link before anything is written.
    last_seq := p_first_seqs[runs] + p_counts[runs] - 1;
    last_prev := CASE WHEN p_counts[runs] = 1 THEN p_prev_hashes[runs] ELSE p_hashes[n - 1] END;
    SELECT p_hashes[n] = @schema@.link_hash(last_prev, l.tenant_id, last_seq, l.actor, l.action, l.entity,
                                            l.entity_id, l.at, l.txid, @schema@.payload_hash(l.old_value, l.new_value))
           AND p_payload_hashes[n] = @schema@.payload_hash(l.old_value, l.new_value)
      INTO last_ok
      FROM @schema@.log l
     WHERE l.id = p_ids[n] AND l.id > lo AND l.id <= hi;
    IF last_ok IS NOT TRUE THEN
        RAISE EXCEPTION 'seal_store: the sealer''s hash of row % does not match the database''s encoding', p_ids[n];
    END IF;
    INSERT INTO @schema@.link_run (tenant_id, first_seq, prev_hash, ids, payload_hashes, hashes)
    SELECT r.tenant_id, r.first_seq, r.prev, p_ids[r.off + 1 : r.off + r.c],
           p_payload_hashes[r.off + 1 : r.off + r.c], p_hashes[r.off + 1 : r.off + r.c]
      FROM unnest(p_tenants, p_first_seqs, p_prev_hashes, p_counts, offs) AS r(tenant_id, first_seq, prev, c, off);
    UPDATE @schema@.seal_state SET floor = hi;
    -- The next claim in this transaction starts again from seal_claim.
    PERFORM set_config('@schema@.claim', '', true);
    RETURN n;
END $f$;

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY coalesce(string_to_array(nullif(current_setting('@schema@.sealer_grantees', true), ''), ','), '{}') LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION @schema@.seal_claim(integer),
                        @schema@.seal_store(text[], bigint[], bytea[], integer[], bigint[], bytea[], bytea[]) TO %s', r);
    END LOOP;
END $$;

-- The sealer in SQL, for a scheduler inside the database (pg_cron) or a server without the
-- CLI: the same claim and store, hashed here. Call it in its own READ COMMITTED transaction;
-- it seals up to max_rows rows and returns how many.
CREATE OR REPLACE FUNCTION @schema@.seal(max_rows integer DEFAULT 10000)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE r record; cur text; h_seq bigint; h_hash bytea; ph bytea; n integer := 0;
        run_max constant integer := 64;  -- links per run, as the Rust sealer (ops::RUN_MAX)
        tenants text[] := '{}'; first_seqs bigint[] := '{}'; prevs bytea[] := '{}'; counts integer[] := '{}';
        ids bigint[] := '{}'; phs bytea[] := '{}'; hashes bytea[] := '{}';
BEGIN
    FOR r IN SELECT * FROM @schema@.seal_claim(max_rows) c ORDER BY c.tenant_id, c.id LOOP
        IF r.tenant_id IS DISTINCT FROM cur THEN
            cur := r.tenant_id; h_seq := r.head_seq; h_hash := r.head_hash;
        END IF;
        h_seq := h_seq + 1;
        IF cardinality(tenants) = 0 OR tenants[cardinality(tenants)] IS DISTINCT FROM cur
           OR counts[cardinality(counts)] >= run_max THEN
            tenants := tenants || cur; first_seqs := first_seqs || h_seq; prevs := prevs || h_hash; counts := counts || 0;
        END IF;
        counts[cardinality(counts)] := counts[cardinality(counts)] + 1;
        ph := @schema@.payload_hash_text(r.old_text, r.new_text);
        h_hash := @schema@.link_hash(h_hash, r.tenant_id, h_seq, r.actor, r.action, r.entity, r.entity_id, r.at, r.txid, ph);
        ids := ids || r.id; phs := phs || ph; hashes := hashes || h_hash;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    RETURN @schema@.seal_store(tenants, first_seqs, prevs, counts, ids, phs, hashes);
END $f$;

-- The only INSERT path for application roles: app-level events (login, export, role
-- change) in the caller's transaction, tenant from app.current_tenant.
CREATE OR REPLACE FUNCTION @schema@.record(p_actor text, p_action text, p_entity text,
    p_entity_id text DEFAULT NULL, p_old jsonb DEFAULT NULL, p_new jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE t text := nullif(current_setting('app.current_tenant', true), ''); v_id bigint;
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'audit record refused: app.current_tenant is not set in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO @schema@.log (tenant_id, actor, action, entity, entity_id, old_value, new_value)
    VALUES (t, coalesce(p_actor, nullif(current_setting('app.current_actor', true), '')),
            p_action, p_entity, p_entity_id, p_old, p_new)
    RETURNING id INTO v_id;
    RETURN v_id;
END $f$;

-- Right to be forgotten: drop the payloads, keep the links. The chain covers
-- payload_hash, not the payload, so verify still checks every link; the log is sealed
-- first so that a payload's hash is in the chain before the payload goes.
CREATE OR REPLACE FUNCTION @schema@.erase(p_tenant text, p_reason text,
    p_entity text DEFAULT NULL, p_entity_id text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE n bigint; f bigint; waiting bigint;
BEGIN
    IF coalesce(p_reason, '') = '' THEN
        RAISE EXCEPTION 'erase needs a reason (it is kept in the erasure table)';
    END IF;
    -- 0 only once the window reaches the safe point (a batch with holes is short, not last).
    LOOP
        EXIT WHEN @schema@.seal(10000) = 0;
    END LOOP;
    SELECT s.floor INTO f FROM @schema@.seal_state s;
    SELECT count(*) INTO waiting FROM @schema@.log
     WHERE id > f AND tenant_id = p_tenant
       AND (p_entity IS NULL OR entity = p_entity) AND (p_entity_id IS NULL OR entity_id = p_entity_id);
    IF waiting > 0 THEN
        RAISE EXCEPTION 'erase: % events of tenant % are not sealed yet (a transaction still open, or another sealer at work); retry shortly',
            waiting, p_tenant;
    END IF;
    UPDATE @schema@.log SET old_value = NULL, new_value = NULL, erased_at = now()
     WHERE tenant_id = p_tenant AND erased_at IS NULL AND id <= f
       AND (p_entity IS NULL OR entity = p_entity) AND (p_entity_id IS NULL OR entity_id = p_entity_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO @schema@.erasure (tenant_id, entity, entity_id, reason, rows)
    VALUES (p_tenant, p_entity, p_entity_id, p_reason, n);
    RETURN n;
END $f$;

-- Guards. On the log, the function allows only the owner's erasure shape (payload gone,
-- erased_at set, every other column unchanged) and refuses everything else.
CREATE OR REPLACE FUNCTION @schema@.guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $f$
BEGIN
    -- Nested: the inner test names log columns, which head and link_run rows do not have.
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME NOT IN ('head', 'link_run') AND current_user = '@owner@' THEN
        IF NEW.old_value IS NULL AND NEW.new_value IS NULL AND NEW.erased_at IS NOT NULL
           AND (NEW.id, NEW.tenant_id, NEW.actor, NEW.action, NEW.entity, NEW.entity_id, NEW.at, NEW.txid)
               IS NOT DISTINCT FROM
               (OLD.id, OLD.tenant_id, OLD.actor, OLD.action, OLD.entity, OLD.entity_id, OLD.at, OLD.txid) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $f$;

DROP TRIGGER IF EXISTS audit_guard_update ON @schema@.log;
CREATE TRIGGER audit_guard_update BEFORE UPDATE ON @schema@.log FOR EACH ROW EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_delete ON @schema@.log;
CREATE TRIGGER audit_guard_delete BEFORE DELETE ON @schema@.log FOR EACH ROW EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_truncate ON @schema@.log;
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON @schema@.log FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard();
-- ENABLE ALWAYS: session_replication_role = replica must not silence them.
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_update;
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_delete;
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_truncate;

-- Runs are never updated; only retention (drop_partitions_before, as the owner) deletes the
-- runs holding links of the months it drops, after recording their checkpoints.
DROP TRIGGER IF EXISTS audit_guard_update ON @schema@.link_run;
CREATE TRIGGER audit_guard_update BEFORE UPDATE ON @schema@.link_run FOR EACH ROW EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_delete ON @schema@.link_run;
CREATE TRIGGER audit_guard_delete BEFORE DELETE ON @schema@.link_run FOR EACH ROW
    WHEN (current_user <> '@owner@' OR current_setting('@schema@.retention', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_truncate ON @schema@.link_run;
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON @schema@.link_run FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard();
ALTER TABLE @schema@.link_run ENABLE ALWAYS TRIGGER audit_guard_update;
ALTER TABLE @schema@.link_run ENABLE ALWAYS TRIGGER audit_guard_delete;
ALTER TABLE @schema@.link_run ENABLE ALWAYS TRIGGER audit_guard_truncate;

DROP TRIGGER IF EXISTS audit_guard_update ON @schema@.head;
CREATE TRIGGER audit_guard_update BEFORE UPDATE ON @schema@.head FOR EACH ROW
    WHEN (current_user <> '@owner@') EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_delete ON @schema@.head;
CREATE TRIGGER audit_guard_delete BEFORE DELETE ON @schema@.head FOR EACH ROW EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_truncate ON @schema@.head;
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON @schema@.head FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard();
ALTER TABLE @schema@.head ENABLE ALWAYS TRIGGER audit_guard_update;
ALTER TABLE @schema@.head ENABLE ALWAYS TRIGGER audit_guard_delete;
ALTER TABLE @schema@.head ENABLE ALWAYS TRIGGER audit_guard_truncate;

-- Statement-level TRUNCATE triggers are not cloned onto partitions: add one to each.
CREATE OR REPLACE FUNCTION @schema@.guard_partition(p regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $f$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = p AND tgname = 'audit_guard_truncate') THEN
        -- A trigger is born ENABLE (origin) and the DDL guard checks after each command:
        -- tell it this one is about to become ENABLE ALWAYS (partitions: owner-only objects).
        PERFORM set_config('@schema@.adding_partition', 'on', true);
        EXECUTE format('CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard()', p);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER audit_guard_truncate', p);
    -- Queried directly, a partition skips the parent's policy: deny all but the owner.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p);
    PERFORM set_config('@schema@.adding_partition', 'off', true);
END $f$;

-- Monthly partitions from this month to months_ahead; the default partition catches
-- anything outside them, so a missing month never fails a business write.
CREATE OR REPLACE FUNCTION @schema@.ensure_partitions(months_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE m date; name text; created integer := 0;
BEGIN
    PERFORM @schema@.guard_partition('@schema@.log_default'::regclass);
    FOR i IN 0..months_ahead LOOP
        m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
        name := format('log_y%sm%s', to_char(m, 'YYYY'), to_char(m, 'MM'));
        IF to_regclass(format('@schema@.%I', name)) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE @schema@.%I PARTITION OF @schema@.log FOR VALUES FROM (%L) TO (%L)',
                               name, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
                created := created + 1;
            EXCEPTION WHEN check_violation THEN
                -- Rows for that month already sit in the default partition; leave them there.
                CONTINUE;
            END;
        END IF;
        PERFORM @schema@.guard_partition(format('@schema@.%I', name)::regclass);
    END LOOP;
    RETURN created;
END $f$;
SELECT @schema@.ensure_partitions(3);

-- Retention: drop whole monthly partitions that end before `cutoff`, recording for each
-- tenant the last dropped link as a checkpoint the verifier resumes from. Refuses if a
-- tenant's chain would be left with a hole (a later partition holding an earlier seq).
CREATE OR REPLACE FUNCTION @schema@.drop_partitions_before(cutoff timestamptz)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE p record; dropped integer := 0; bad text;
BEGIN
    FOR p IN SELECT c.oid::regclass AS rel, c.relname,
                    (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = '@schema@.log'::regclass AND c.relname <> 'log_default'
              ORDER BY 3
    LOOP
        CONTINUE WHEN p.upper_bound IS NULL OR p.upper_bound > cutoff;
        EXECUTE format('SELECT string_agg(DISTINCT tenant_id, '', '') FROM %s WHERE id > (SELECT s.floor FROM @schema@.seal_state s)',
                       p.rel) INTO bad;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'partition % still has unsealed rows (tenants %); run seal first', p.relname, bad;
        END IF;
        -- The month's tenants' links: each with its run and whether its row is in this partition.
        EXECUTE format($q$
            CREATE TEMP TABLE month_links ON COMMIT DROP AS
            SELECT k.tenant_id, k.seq, k.run_seq, k.id, k.payload_hash, k.prev_hash, k.hash, (m.id IS NOT NULL) AS here
              FROM @schema@.link k LEFT JOIN %s m ON m.id = k.id
             WHERE k.tenant_id IN (SELECT DISTINCT tenant_id FROM %s)$q$, p.rel, p.rel);
        SELECT string_agg(DISTINCT d.tenant_id, ', ') INTO bad
          FROM (SELECT tenant_id, max(seq) AS seq FROM month_links WHERE here GROUP BY tenant_id) d
         WHERE EXISTS (SELECT 1 FROM month_links l WHERE l.tenant_id = d.tenant_id AND l.seq < d.seq AND NOT l.here);
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'dropping % would cut the chain of tenants % (an earlier link lies in a later partition)', p.relname, bad;
        END IF;
        INSERT INTO @schema@.checkpoint (tenant_id, seq, hash, partition)
        SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash, p.relname FROM month_links WHERE here ORDER BY tenant_id, seq DESC
            ON CONFLICT DO NOTHING;
        -- Every run holding a link of this month goes; a run that goes on into the next month
        -- comes back as its later links (after the checkpoint, whose hash is their prev).
        PERFORM set_config('@schema@.retention', 'on', true);
        DELETE FROM @schema@.link_run k
         USING (SELECT DISTINCT m.tenant_id, m.run_seq FROM month_links m WHERE m.here) c
         WHERE k.tenant_id = c.tenant_id AND k.first_seq = c.run_seq;
        PERFORM set_config('@schema@.retention', 'off', true);
        INSERT INTO @schema@.link_run (tenant_id, first_seq, prev_hash, ids, payload_hashes, hashes)
        SELECT m.tenant_id, min(m.seq), (array_agg(m.prev_hash ORDER BY m.seq))[1], array_agg(m.id ORDER BY m.seq),
               array_agg(m.payload_hash ORDER BY m.seq), array_agg(m.hash ORDER BY m.seq)
          FROM month_links m
         WHERE NOT m.here AND (m.tenant_id, m.run_seq) IN (SELECT h.tenant_id, h.run_seq FROM month_links h WHERE h.here)
         GROUP BY m.tenant_id, m.run_seq;
        DROP TABLE month_links;
        EXECUTE format('ALTER TABLE @schema@.log DETACH PARTITION %s', p.rel);
        EXECUTE format('DROP TABLE %s', p.rel);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $f$;

RESET ROLE;

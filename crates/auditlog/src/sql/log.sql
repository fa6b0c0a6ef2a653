-- Objects below are created as the NOLOGIN owner so that no login role owns (and can
-- therefore ALTER, DISABLE TRIGGER on or DROP) the log.
SET LOCAL ROLE @owner@;

CREATE SEQUENCE IF NOT EXISTS @schema@.log_id_seq;
-- CACHE 1: the sealer's floor (seal_floor) reads last_value as "every id drawn so far".
ALTER SEQUENCE @schema@.log_id_seq CACHE 1;

-- Unsealed rows (seq IS NULL) are written by the capture triggers and record(); the
-- sealer gives them seq, payload_hash, prev_hash and hash. Partitioned by month on `at`
-- so retention can drop whole months (see drop_partitions_before and checkpoint).
CREATE TABLE IF NOT EXISTS @schema@.log (
    id           bigint      NOT NULL DEFAULT nextval('@schema@.log_id_seq'),
    tenant_id    text        NOT NULL,
    seq          bigint,
    actor        text,
    action       text        NOT NULL,
    entity       text        NOT NULL,
    entity_id    text,
    old_value    jsonb,
    new_value    jsonb,
    at           timestamptz NOT NULL DEFAULT now(),
    txid         bigint      NOT NULL DEFAULT txid_current(),
    payload_hash bytea,
    prev_hash    bytea,
    hash         bytea,
    erased_at    timestamptz
) PARTITION BY RANGE (at);
ALTER SEQUENCE @schema@.log_id_seq OWNED BY @schema@.log.id;

-- A writer takes its transaction id before it draws its row id: the sealer's floor relies
-- on it (seal_floor). The capture functions and record() use this default.
ALTER TABLE @schema@.log ALTER COLUMN id
    SET DEFAULT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('@schema@.log_id_seq') END;

-- Every index on the log is paid by every business write, and an index on seq also makes
-- every sealing UPDATE a non-HOT one (docs/audit-log.md, Speed). So the log has one index,
-- a BRIN on id that writers almost never touch (a new row lands in a page range that is not
-- summarised yet): the sealer reads unsealed rows above its floor through it and writes
-- them back by tuple id. What orders a chain is the head row lock and seal_store's
-- continuity check (PostgreSQL could not enforce UNIQUE (tenant_id, seq) across time
-- partitions anyway); verify reports any duplicate or missing seq. Serve tenants' reads of
-- their own events? Add an index on (tenant_id, at) knowing what it costs each write.
DROP INDEX IF EXISTS @schema@.log_unsealed;
DROP INDEX IF EXISTS @schema@.log_at;
DROP INDEX IF EXISTS @schema@.log_unsealed_id;
DROP INDEX IF EXISTS @schema@.log_tenant_seq;
CREATE INDEX IF NOT EXISTS log_id_brin ON @schema@.log USING brin (id) WITH (pages_per_range = 32, autosummarize = on);
CREATE TABLE IF NOT EXISTS @schema@.log_default PARTITION OF @schema@.log DEFAULT;

-- The last sealed link of each tenant: the sealer's lock and the verifier's tail check.
CREATE TABLE IF NOT EXISTS @schema@.head (
    tenant_id text PRIMARY KEY,
    seq       bigint      NOT NULL,
    hash      bytea       NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- The sealer's floor: every row with id <= floor is sealed, so sealers look above it only.
-- pending_max / pending_xid are the next floor candidate: once every transaction up to
-- pending_xid has ended, no row with id <= pending_max can still appear (seal_floor).
CREATE TABLE IF NOT EXISTS @schema@.seal_state (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    floor       bigint  NOT NULL DEFAULT 0,
    pending_max bigint,
    pending_xid xid8
);
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
CREATE OR REPLACE FUNCTION @schema@.payload_hash(old_value jsonb, new_value jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $f$ SELECT sha256('\x7467616c312f7061796c6f6164'::bytea
                     || @schema@.enc(old_value::text) || @schema@.enc(new_value::text)) $f$;

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

-- The sealers' queries read id ranges through the BRIN; a cached generic plan cannot see how
-- narrow a range is and may scan the whole log, so they are planned for their values each
-- time (plan_cache_mode = force_custom_plan: a fraction of a millisecond per batch). Even so,
-- a partition not analysed yet (a new month, or one filling faster than autovacuum analyses
-- it) looks tiny to the planner, which then reads all of it for every range: enable_seqscan
-- = off keeps the sealers on the BRIN (5 to 6 whole-partition scans per batch before). That
-- setting prices every plan above jit_above_cost, and JIT compiling each query cost more
-- than running it (30% of the sealer's CPU), hence jit = off.
--
-- The sealer's floor, moved up when it safely can; every sealer calls it first, before its
-- transaction has an xid. Why it is safe: a writer takes its xid before it draws its id (the
-- log's id default, the C capture function). A candidate (pending_max, pending_xid) is the
-- sequence's last_value read before this transaction's xid is taken, and that xid. Once
-- every transaction up to pending_xid has ended (the snapshot's xmin is above it), every
-- writer that drew an id <= pending_max has ended: its rows are visible or will never be.
-- The floor then moves to just below the lowest still unsealed id, at most pending_max.
CREATE OR REPLACE FUNCTION @schema@.seal_floor()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE fresh boolean := pg_current_xact_id_if_assigned() IS NULL; m bigint; st record; f bigint; lowest bigint;
        lo bigint; step bigint;
BEGIN
    SELECT last_value INTO m FROM @schema@.log_id_seq;
    -- Takes this transaction's xid (after m was read); a sealer holding it is not waited for.
    SELECT * INTO st FROM @schema@.seal_state FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN coalesce((SELECT s.floor FROM @schema@.seal_state s), 0);
    END IF;
    f := st.floor;
    IF st.pending_xid IS NOT NULL AND pg_snapshot_xmin(pg_current_snapshot()) > st.pending_xid THEN
        -- The lowest unsealed id up to pending_max, read in growing id windows from the floor
        -- (the BRIN finds rows by range, not in order: one min() over the whole range would
        -- read all of it, which under a large backlog is every unsealed row).
        lo := f;
        step := 1024;
        WHILE lowest IS NULL AND lo < st.pending_max LOOP
            SELECT min(l.id) INTO lowest FROM @schema@.log l
             WHERE l.seq IS NULL AND l.id > lo AND l.id <= least(lo + step, st.pending_max);
            lo := least(lo + step, st.pending_max);
            step := step * 2;
        END LOOP;
        f := greatest(f, coalesce(lowest - 1, st.pending_max));
        st.pending_xid := NULL;
    END IF;
    IF st.pending_xid IS NULL AND fresh THEN
        UPDATE @schema@.seal_state SET floor = f, pending_max = m, pending_xid = pg_current_xact_id();
    ELSE
        UPDATE @schema@.seal_state SET floor = f, pending_max = CASE WHEN st.pending_xid IS NULL THEN NULL ELSE pending_max END,
                                       pending_xid = st.pending_xid;
    END IF;
    RETURN f;
END $f$;

-- Sealers read unsealed rows through the BRIN on id, and a bitmap scan reads every page range
-- not summarised yet. autosummarize leaves that to autovacuum (its next round, up to a minute
-- away, and only 256 requests are queued: a busy log outruns it), so every claim would read
-- most of the log. The sealer summarises each partition's complete ranges itself, from where
-- it got to last time (seal_brin), never the range still being filled (writers would then
-- pay to widen its summary). NOWAIT: a partition vacuum or another sealer is working on is
-- skipped this time.
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

-- The upper id bound of a claim: the BRIN on id finds rows by id range, not in id order, so
-- "the oldest max_rows unsealed rows above the floor" read without a bound would read every
-- row above the floor (a large backlog: all of it, for every batch). Windows of ids, the
-- first max_rows wide and each next one twice as wide, are read from the floor up until
-- max_rows unsealed rows are found or the top is reached.
CREATE OR REPLACE FUNCTION @schema@.seal_window(f bigint, max_rows integer)
RETURNS bigint LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE top bigint; lo bigint := f; hi bigint; found_rows bigint := 0; step bigint := greatest(max_rows, 1)::bigint;
BEGIN
    SELECT last_value INTO top FROM @schema@.log_id_seq;
    LOOP
        hi := lo + step;
        SELECT found_rows + count(*) INTO found_rows
          FROM (SELECT 1 FROM @schema@.log l WHERE l.seq IS NULL AND l.id > lo AND l.id <= hi LIMIT max_rows) w;
        EXIT WHEN found_rows >= max_rows OR hi >= top;
        lo := hi;
        step := step * 2;
    END LOOP;
    RETURN hi;
END $f$;

-- Write a sealed batch: each row found by its partition and tuple id (a TID scan; the log
-- has no btree for a sealer to find rows by, since writers would pay for it), and only if
-- it is still the same unsealed row. Returns the rows written; callers check the count.
CREATE OR REPLACE FUNCTION @schema@.seal_write(p_parts oid[], p_ctids tid[], p_ids bigint[], p_tenants text[], p_seqs bigint[],
    p_payload_hashes bytea[], p_prev_hashes bytea[], p_hashes bytea[])
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE part oid; got integer; total integer := 0;
BEGIN
    FOR part IN SELECT DISTINCT p FROM unnest(p_parts) AS p LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = part AND i.inhparent = '@schema@.log'::regclass) THEN
            RAISE EXCEPTION 'seal: % is not a partition of @schema@.log', part;
        END IF;
        EXECUTE format('UPDATE %s l SET seq = x.seq, payload_hash = x.ph, prev_hash = x.prev, hash = x.h
                          FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) AS x(part, ct, id, t, seq, ph, prev, h)
                         WHERE x.part = $9 AND l.ctid = x.ct AND l.id = x.id AND l.tenant_id = x.t AND l.seq IS NULL',
                       part::regclass)
          USING p_parts, p_ctids, p_ids, p_tenants, p_seqs, p_payload_hashes, p_prev_hashes, p_hashes, part;
        GET DIAGNOSTICS got = ROW_COUNT;
        total := total + got;
    END LOOP;
    RETURN total;
END $f$;

-- Seal one tenant's committed, unsealed rows in id order. The per-tenant lock is held
-- only for this short transaction, never by the writers, so a hot tenant's writes do not
-- queue behind each other; a concurrent sealer skips the tenant instead of waiting.
-- Hash inputs are computed set-based in the loop's query; the loop only chains them.
CREATE OR REPLACE FUNCTION @schema@.seal_tenant(p_tenant text, max_rows integer DEFAULT 10000)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE
    f bigint := @schema@.seal_floor(); h_seq bigint; h_hash bytea; r record; n integer := 0;
    parts oid[] := '{}'; cts tid[] := '{}'; ids bigint[] := '{}'; seqs bigint[] := '{}';
    phs bytea[] := '{}'; prevs bytea[] := '{}'; hashes bytea[] := '{}';
BEGIN
    IF NOT pg_try_advisory_xact_lock(1952539756, hashtext(p_tenant)) THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM @schema@.head h WHERE h.tenant_id = p_tenant FOR UPDATE;
    SELECT t.head_seq, t.head_hash INTO h_seq, h_hash FROM @schema@.chain_tips(ARRAY[p_tenant]) t;
    FOR r IN SELECT l.tableoid AS part, l.ctid AS ct, l.id, @schema@.payload_hash(l.old_value, l.new_value) AS ph,
                    @schema@.link_body(l.tenant_id, l.actor, l.action, l.entity, l.entity_id, l.at, l.txid) AS body
               FROM @schema@.log l WHERE l.tenant_id = p_tenant AND l.seq IS NULL AND l.id > f
              ORDER BY l.id LIMIT max_rows
    LOOP
        h_seq := h_seq + 1;
        prevs := prevs || h_hash;
        h_hash := sha256('\x7467616c312f6c696e6b'::bytea || h_hash || int8send(h_seq) || r.body || r.ph);
        parts := parts || r.part; cts := cts || r.ct; ids := ids || r.id; seqs := seqs || h_seq;
        phs := phs || r.ph; hashes := hashes || h_hash;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    IF @schema@.seal_write(parts, cts, ids, array_fill(p_tenant, ARRAY[n]), seqs, phs, prevs, hashes) <> n THEN
        RAISE EXCEPTION 'seal_tenant: a row of tenant % changed while it was being sealed', p_tenant;
    END IF;
    INSERT INTO @schema@.head AS h (tenant_id, seq, hash) VALUES (p_tenant, h_seq, h_hash)
        ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, sealed_at = now();
    RETURN n;
END $f$;

-- The sealer in Rust (ops::seal_once) hashes outside the database: in one READ COMMITTED
-- transaction it calls seal_claim, computes payload hashes and links, and hands them to
-- seal_store. seal_claim takes the tenants of the oldest unsealed rows (try-lock: a tenant
-- another sealer holds is skipped), locks their head rows and returns, per tenant in id
-- order, the head and the rows' hash inputs (jsonb as text, the bytes that are hashed),
-- with where each row is (partition, tuple id) for seal_store.
-- seal_claim is dropped and created again (CREATE OR REPLACE cannot change its result
-- columns, which changed at stop 10) and seal_store's arguments changed: a role granted
-- EXECUTE on the earlier ones (a sealer login) is granted it again on the new ones below.
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
               action text, entity text, entity_id text, old_text text, new_text text, txid bigint,
               part oid, ctid_text text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
#variable_conflict use_column
DECLARE f bigint := @schema@.seal_floor(); hi bigint; tenants text[];
BEGIN
    PERFORM @schema@.seal_summarize();
    hi := @schema@.seal_window(f, max_rows);
    -- Candidates from the oldest unsealed rows; lock before reading the rows, so that the
    -- rows read are exactly the ones no other sealer can seal until this transaction ends.
    SELECT array_agg(c.t ORDER BY c.t) INTO tenants
      FROM (SELECT DISTINCT u.tenant_id AS t
              FROM (SELECT l.tenant_id FROM @schema@.log l WHERE l.seq IS NULL AND l.id > f AND l.id <= hi
                     ORDER BY l.id LIMIT max_rows) u) c
     WHERE pg_try_advisory_xact_lock(1952539756, hashtext(c.t));
    IF tenants IS NULL THEN
        RETURN;
    END IF;
    PERFORM 1 FROM @schema@.head h WHERE h.tenant_id = ANY (tenants) ORDER BY h.tenant_id FOR UPDATE;
    RETURN QUERY
    -- MATERIALIZED: one lookup per tenant, not one per row.
    WITH s AS MATERIALIZED (
        SELECT * FROM @schema@.chain_tips(tenants))
    -- The oldest unsealed rows again, in this statement's snapshot (taken after the locks),
    -- kept for the tenants locked above: for each of them, a prefix of its rows in id order.
    -- (A hash join with the locked tenants: `tenant_id = ANY (tenants)` on a variable array
    -- is a linear search per row, about 6 us per row with 100 tenants.)
    SELECT s.tenant_id, s.head_seq, s.head_hash, r.id, r.at, r.actor, r.action, r.entity, r.entity_id,
           r.old_value::text, r.new_value::text, r.txid, r.tableoid, r.ctid::text
      FROM (SELECT l.tableoid, l.ctid, l.* FROM @schema@.log l WHERE l.seq IS NULL AND l.id > f AND l.id <= hi
             ORDER BY l.id LIMIT max_rows) r
      JOIN s ON s.tenant_id = r.tenant_id
     ORDER BY r.tenant_id, r.id;
END $f$;

-- Store what the Rust sealer computed: per tenant, seqs and prev hashes must continue the
-- head without a gap, every row must still be unsealed (else nothing is written), and
-- the last row's link is recomputed here as a check of the sealer's encoding. Every
-- other hash is checked by verify; a wrong one is a finding, never a silent fork.
DROP FUNCTION IF EXISTS @schema@.seal_store(text[], bigint[], timestamptz[], bigint[], bytea[], bytea[], bytea[]);
CREATE OR REPLACE FUNCTION @schema@.seal_store(p_tenants text[], p_ids bigint[], p_ats timestamptz[],
    p_seqs bigint[], p_payload_hashes bytea[], p_prev_hashes bytea[], p_hashes bytea[], p_parts oid[], p_ctids text[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE n integer := cardinality(p_ids); got integer; bad text; last_ok boolean; tenants text[];
BEGIN
    IF n IS NULL OR n = 0 THEN
        RETURN 0;
    END IF;
    IF cardinality(p_parts) IS DISTINCT FROM n OR cardinality(p_ctids) IS DISTINCT FROM n
       OR cardinality(p_tenants) IS DISTINCT FROM n OR cardinality(p_seqs) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'seal_store: the arrays of this batch differ in length';
    END IF;
    tenants := ARRAY(SELECT DISTINCT t FROM unnest(p_tenants) AS t ORDER BY 1);
    -- Re-entrant for the sealer that claimed them; refused if another session holds one.
    IF NOT (SELECT bool_and(pg_try_advisory_xact_lock(1952539756, hashtext(t))) FROM unnest(tenants) AS t) THEN
        RAISE EXCEPTION 'seal_store: a tenant in this batch is being sealed by another session';
    END IF;
    PERFORM 1 FROM @schema@.head h WHERE h.tenant_id = ANY (tenants) ORDER BY h.tenant_id FOR UPDATE;
    -- MATERIALIZED: one lookup per tenant, not one per row.
    WITH s AS MATERIALIZED (
        SELECT * FROM @schema@.chain_tips(tenants))
    SELECT string_agg(DISTINCT b.tenant_id, ', ') INTO bad
      FROM (SELECT x.tenant_id, x.seq, x.prev,
                   lag(x.seq) OVER w AS lseq, lag(x.h) OVER w AS lh, row_number() OVER w AS rn
              FROM unnest(p_tenants, p_seqs, p_prev_hashes, p_hashes) WITH ORDINALITY AS x(tenant_id, seq, prev, h, i)
            WINDOW w AS (PARTITION BY x.tenant_id ORDER BY x.i)) b
      JOIN s ON s.tenant_id = b.tenant_id
     WHERE CASE WHEN b.rn = 1 THEN b.seq IS DISTINCT FROM s.head_seq + 1 OR b.prev IS DISTINCT FROM s.head_hash
                ELSE b.seq IS DISTINCT FROM b.lseq + 1 OR b.prev IS DISTINCT FROM b.lh END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'seal_store: the batch does not continue the chain of tenants %', bad;
    END IF;
    -- The sealer's encoding, checked on the batch's last row before anything is written.
    SELECT p_hashes[n] = @schema@.link_hash(p_prev_hashes[n], l.tenant_id, p_seqs[n], l.actor, l.action, l.entity,
                                            l.entity_id, l.at, l.txid, @schema@.payload_hash(l.old_value, l.new_value))
           AND p_payload_hashes[n] = @schema@.payload_hash(l.old_value, l.new_value)
      INTO last_ok
      FROM @schema@.log l
     WHERE l.tableoid = p_parts[n] AND l.ctid = p_ctids[n]::tid AND l.id = p_ids[n] AND l.tenant_id = p_tenants[n];
    IF last_ok IS NOT TRUE THEN
        RAISE EXCEPTION 'seal_store: the sealer''s hash of row % does not match the database''s encoding', p_ids[n];
    END IF;
    -- Each row is written only if it is still the claimed, unsealed row of the claimed tenant.
    got := @schema@.seal_write(p_parts, p_ctids::tid[], p_ids, p_tenants, p_seqs, p_payload_hashes, p_prev_hashes, p_hashes);
    IF got <> n THEN
        RAISE EXCEPTION 'seal_store: % of % rows were still unsealed; nothing stored', got, n;
    END IF;
    INSERT INTO @schema@.head AS h (tenant_id, seq, hash)
    SELECT DISTINCT ON (x.tenant_id) x.tenant_id, x.seq, x.h
      FROM unnest(p_tenants, p_seqs, p_hashes) AS x(tenant_id, seq, h) ORDER BY x.tenant_id, x.seq DESC
        ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, sealed_at = now();
    RETURN n;
END $f$;

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY coalesce(string_to_array(nullif(current_setting('@schema@.sealer_grantees', true), ''), ','), '{}') LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION @schema@.seal_claim(integer), @schema@.seal_store(text[], bigint[],
                        timestamptz[], bigint[], bytea[], bytea[], bytea[], oid[], text[]) TO %s', r);
    END LOOP;
END $$;

-- Seal every tenant with unsealed rows, up to max_rows in all. Call it in its own
-- READ COMMITTED transaction (the CLI's `audit-log seal` or a background worker).
CREATE OR REPLACE FUNCTION @schema@.seal(max_rows integer DEFAULT 10000)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET plan_cache_mode = force_custom_plan SET enable_seqscan = off SET jit = off
AS $f$
DECLARE f bigint := @schema@.seal_floor(); t text; total bigint := 0;
BEGIN
    FOR t IN SELECT DISTINCT l.tenant_id FROM @schema@.log l WHERE l.seq IS NULL AND l.id > f LOOP
        total := total + @schema@.seal_tenant(t, greatest(max_rows - total, 0)::integer);
        EXIT WHEN total >= max_rows;
    END LOOP;
    RETURN total;
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
-- payload_hash, not the payload, so verify still checks every link; rows are sealed
-- first so that their payload hash exists before the payload goes.
CREATE OR REPLACE FUNCTION @schema@.erase(p_tenant text, p_reason text,
    p_entity text DEFAULT NULL, p_entity_id text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE n bigint;
BEGIN
    IF coalesce(p_reason, '') = '' THEN
        RAISE EXCEPTION 'erase needs a reason (it is kept in the erasure table)';
    END IF;
    PERFORM @schema@.seal_tenant(p_tenant, 2147483647);
    IF EXISTS (SELECT 1 FROM @schema@.log WHERE tenant_id = p_tenant AND seq IS NULL
                AND id > (SELECT s.floor FROM @schema@.seal_state s)) THEN
        RAISE EXCEPTION 'tenant % is being sealed by another session; retry', p_tenant;
    END IF;
    UPDATE @schema@.log SET old_value = NULL, new_value = NULL, erased_at = now()
     WHERE tenant_id = p_tenant AND erased_at IS NULL AND seq IS NOT NULL
       AND (p_entity IS NULL OR entity = p_entity) AND (p_entity_id IS NULL OR entity_id = p_entity_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO @schema@.erasure (tenant_id, entity, entity_id, reason, rows)
    VALUES (p_tenant, p_entity, p_entity_id, p_reason, n);
    RETURN n;
END $f$;

-- Guards. Sealing (owner, unsealed row) skips the trigger through its WHEN clause; the
-- function then allows only the owner's erasure shape and refuses everything else.
CREATE OR REPLACE FUNCTION @schema@.guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $f$
BEGIN
    IF TG_OP = 'UPDATE' AND current_user = '@owner@'
       AND NEW.old_value IS NULL AND NEW.new_value IS NULL AND NEW.erased_at IS NOT NULL
       AND (NEW.id, NEW.tenant_id, NEW.seq, NEW.actor, NEW.action, NEW.entity, NEW.entity_id, NEW.at,
            NEW.txid, NEW.payload_hash, NEW.prev_hash, NEW.hash)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.tenant_id, OLD.seq, OLD.actor, OLD.action, OLD.entity, OLD.entity_id, OLD.at,
            OLD.txid, OLD.payload_hash, OLD.prev_hash, OLD.hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $f$;

DROP TRIGGER IF EXISTS audit_guard_update ON @schema@.log;
CREATE TRIGGER audit_guard_update BEFORE UPDATE ON @schema@.log FOR EACH ROW
    WHEN (OLD.seq IS NOT NULL OR current_user <> '@owner@') EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_delete ON @schema@.log;
CREATE TRIGGER audit_guard_delete BEFORE DELETE ON @schema@.log FOR EACH ROW EXECUTE FUNCTION @schema@.guard();
DROP TRIGGER IF EXISTS audit_guard_truncate ON @schema@.log;
CREATE TRIGGER audit_guard_truncate BEFORE TRUNCATE ON @schema@.log FOR EACH STATEMENT EXECUTE FUNCTION @schema@.guard();
-- ENABLE ALWAYS: session_replication_role = replica must not silence them.
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_update;
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_delete;
ALTER TABLE @schema@.log ENABLE ALWAYS TRIGGER audit_guard_truncate;

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
    -- Room on each page for its rows' sealed versions: sealing is then a HOT update (no new
    -- index entry, the new version next to the old one), which keeps the BRIN on id tight;
    -- a non-HOT one would put old ids into the newest page ranges and widen their summaries.
    EXECUTE format('ALTER TABLE %s SET (fillfactor = 50)', p);
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
        EXECUTE format('SELECT string_agg(DISTINCT tenant_id, '', '') FROM %s WHERE seq IS NULL', p.rel) INTO bad;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'partition % still has unsealed rows (tenants %); run seal first', p.relname, bad;
        END IF;
        EXECUTE format($q$
            SELECT string_agg(d.tenant_id, ', ') FROM
              (SELECT tenant_id, max(seq) AS seq FROM %s GROUP BY tenant_id) d
             WHERE EXISTS (SELECT 1 FROM @schema@.log l WHERE l.tenant_id = d.tenant_id AND l.seq < d.seq
                             AND l.tableoid <> %s::oid)$q$, p.rel, p.rel::oid) INTO bad;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'dropping % would cut the chain of tenants % (an earlier link lies in a later partition)', p.relname, bad;
        END IF;
        EXECUTE format($q$
            INSERT INTO @schema@.checkpoint (tenant_id, seq, hash, partition)
            SELECT DISTINCT ON (tenant_id) tenant_id, seq, hash, %L FROM %s ORDER BY tenant_id, seq DESC
            ON CONFLICT DO NOTHING$q$, p.relname, p.rel);
        EXECUTE format('ALTER TABLE @schema@.log DETACH PARTITION %s', p.rel);
        EXECUTE format('DROP TABLE %s', p.rel);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END $f$;

RESET ROLE;

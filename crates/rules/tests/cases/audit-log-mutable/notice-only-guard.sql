-- A "guard" that only raises a NOTICE guards nothing.
-- include: base
-- expect: audit-log-mutable public.audit_log
-- leak: UPDATE audit_log SET action = 'nothing happened'; RESET ROLE; SELECT count(*) FROM audit_log WHERE action = 'nothing happened'
CREATE TABLE audit_log (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, actor text NOT NULL, action text NOT NULL, entity text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON audit_log (tenant_id, at);
INSERT INTO audit_log (tenant_id, actor, action, entity) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'alice', 'update', 'invoice:1');
ALTER TABLE audit_log OWNER TO app_owner;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY; ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT, UPDATE ON audit_log TO app_user;
CREATE FUNCTION audit_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'audit_log changed'; RETURN NEW; END $$;
CREATE TRIGGER note_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_note();
CREATE TRIGGER note_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_note();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER note_update;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER note_truncate;

-- Shared by the tenant-table-not-audited cases: base, plus an append-only audit log the app
-- reads under RLS and a tenant table the app may change.
CREATE TABLE audit_log (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, actor text, action text NOT NULL, entity text NOT NULL, old_value jsonb, new_value jsonb, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON audit_log (tenant_id, at);
ALTER TABLE audit_log OWNER TO app_owner;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY; ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT ON audit_log TO app_user;
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER no_update_delete BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER no_update_delete;
ALTER TABLE audit_log ENABLE ALWAYS TRIGGER no_truncate;
CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), body text NOT NULL);
CREATE INDEX ON notes (tenant_id);
INSERT INTO notes VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), (2, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE notes OWNER TO app_owner;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO app_user;

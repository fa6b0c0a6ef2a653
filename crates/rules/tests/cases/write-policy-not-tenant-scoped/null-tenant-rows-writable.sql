-- The same shared-rows read, but anyone may write NULL-tenant rows: tenant A can put rows in
-- front of every other tenant.
-- include: base
-- expect: write-policy-not-tenant-scoped public.templates
-- leak: INSERT INTO templates (tenant_id, body) VALUES (NULL, 'phish'); SELECT 1
CREATE TABLE templates (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants (id), body text);
CREATE INDEX ON templates (tenant_id);
ALTER TABLE templates OWNER TO app_owner;
ALTER TABLE templates ENABLE ROW LEVEL SECURITY; ALTER TABLE templates FORCE ROW LEVEL SECURITY;
CREATE POLICY mine_and_shared ON templates USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid) OR tenant_id IS NULL);
GRANT SELECT, INSERT ON templates TO app_user;
GRANT USAGE ON SEQUENCE templates_id_seq TO app_user;

-- Rows with a NULL tenant are shared templates every tenant may read; only the owner can write
-- them, because the write check pins the tenant.
-- include: base
-- forbid: policy-not-tenant-scoped
-- forbid: write-policy-not-tenant-scoped
-- clean
-- isolated: SELECT count(*) FROM templates WHERE tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
-- isolated: INSERT INTO templates (tenant_id, body) VALUES (NULL, 'x'); SELECT 1
CREATE TABLE templates (id serial PRIMARY KEY, tenant_id uuid REFERENCES tenants (id), body text);
CREATE INDEX ON templates (tenant_id);
INSERT INTO templates (tenant_id, body) VALUES (NULL, 'shared'), ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE templates OWNER TO app_owner;
ALTER TABLE templates ENABLE ROW LEVEL SECURITY; ALTER TABLE templates FORCE ROW LEVEL SECURITY;
CREATE POLICY read_mine_and_shared ON templates FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid) OR tenant_id IS NULL);
CREATE POLICY write_mine ON templates FOR INSERT WITH CHECK (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON templates TO app_user;
GRANT USAGE ON SEQUENCE templates_id_seq TO app_user;

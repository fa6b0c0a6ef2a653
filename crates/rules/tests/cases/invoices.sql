-- A correctly isolated tenant table: separate owner, forced RLS, policy through (SELECT …).
CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), total numeric NOT NULL DEFAULT 0);
CREATE INDEX invoices_tenant ON invoices (tenant_id);
INSERT INTO invoices VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 10), (2, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 20);
ALTER TABLE invoices OWNER TO app_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO app_user;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

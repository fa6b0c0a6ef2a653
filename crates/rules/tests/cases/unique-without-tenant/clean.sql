-- include: base
-- forbid: unique-without-tenant
-- clean
-- isolated: INSERT INTO customers (tenant_id, email) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'ceo@bigco.example'); SELECT 0
CREATE TABLE customers (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), email text NOT NULL);
INSERT INTO customers (tenant_id, email) VALUES ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'ceo@bigco.example');
ALTER TABLE customers OWNER TO app_owner;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY; ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON customers TO app_user; GRANT USAGE ON SEQUENCE customers_id_seq TO app_user;
CREATE UNIQUE INDEX customers_email ON customers (tenant_id, email);

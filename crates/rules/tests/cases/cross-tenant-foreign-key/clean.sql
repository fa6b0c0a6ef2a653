-- Composite foreign keys that include the tenant column.
-- include: base
-- forbid: cross-tenant-foreign-key
-- clean
-- isolated: INSERT INTO orders VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 2); SELECT 1
CREATE TABLE customers (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), name text, UNIQUE (tenant_id, id));
INSERT INTO customers VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), (2, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE customers OWNER TO app_owner;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY; ALTER TABLE customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON customers TO app_user;
CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), customer_id bigint NOT NULL,
  FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id));
ALTER TABLE orders OWNER TO app_owner;
CREATE INDEX ON orders (tenant_id);
ALTER TABLE orders ENABLE ROW LEVEL SECURITY; ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON orders TO app_user;

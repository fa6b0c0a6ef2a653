-- A natural primary key across tenants: the duplicate-key error tells A that B has this email.
-- include: base
-- expect: unique-without-tenant public.contacts
CREATE TABLE contacts (email text PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id));
CREATE INDEX ON contacts (tenant_id);
ALTER TABLE contacts OWNER TO app_owner;
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY; ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON contacts TO app_user;

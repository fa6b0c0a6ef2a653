-- Shared by every case that says `-- include: base`: an owner, an application role,
-- two tenants, and a correctly isolated tenants table.
CREATE ROLE app_owner NOLOGIN;
CREATE ROLE app_user LOGIN;
GRANT USAGE ON SCHEMA public TO app_user;
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO tenants VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'A'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'B');
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants USING (id = (SELECT current_setting('app.current_tenant', true)::uuid));
ALTER TABLE tenants OWNER TO app_owner;
GRANT SELECT ON tenants TO app_user;

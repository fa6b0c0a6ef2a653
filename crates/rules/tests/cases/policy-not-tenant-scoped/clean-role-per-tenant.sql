-- One role per tenant, with current_user policies.
-- config: app_roles = ["tenant_a", "tenant_b"]
-- forbid: policy-not-tenant-scoped
-- clean
-- as: tenant_a
-- isolated: SELECT count(*) FROM docs WHERE tenant <> 'tenant_a'
CREATE ROLE docs_owner NOLOGIN;
CREATE ROLE tenant_a LOGIN;
CREATE ROLE tenant_b LOGIN;
CREATE TABLE docs (id serial PRIMARY KEY, tenant text NOT NULL DEFAULT current_user, body text);
CREATE INDEX ON docs (tenant);
INSERT INTO docs (tenant, body) VALUES ('tenant_a', 'a'), ('tenant_b', 'b');
ALTER TABLE docs OWNER TO docs_owner;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE docs FORCE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON docs USING (tenant = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO tenant_a, tenant_b;
GRANT USAGE ON SEQUENCE docs_id_seq TO tenant_a, tenant_b;

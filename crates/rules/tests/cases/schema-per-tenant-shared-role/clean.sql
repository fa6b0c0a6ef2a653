-- One role per tenant schema.
-- config: app_roles = ["tenant_a_role", "tenant_b_role"]
-- forbid: schema-per-tenant-shared-role
-- clean
-- as: tenant_a_role
-- isolated: SELECT count(*) FROM tenant_b.docs
CREATE ROLE tenant_a_role LOGIN; CREATE ROLE tenant_b_role LOGIN;
CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;
CREATE TABLE tenant_a.docs (id int PRIMARY KEY, body text); CREATE TABLE tenant_b.docs (id int PRIMARY KEY, body text);
CREATE TABLE tenant_a.users (id int PRIMARY KEY); CREATE TABLE tenant_b.users (id int PRIMARY KEY);
INSERT INTO tenant_a.docs VALUES (1, 'a'); INSERT INTO tenant_b.docs VALUES (1, 'b');
GRANT USAGE ON SCHEMA tenant_a TO tenant_a_role; GRANT USAGE ON SCHEMA tenant_b TO tenant_b_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tenant_a TO tenant_a_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tenant_b TO tenant_b_role;

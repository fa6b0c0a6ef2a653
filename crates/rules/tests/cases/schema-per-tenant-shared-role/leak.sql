-- expect: schema-per-tenant-shared-role app_user
-- leak: SELECT count(*) FROM tenant_b.docs
CREATE ROLE app_user LOGIN;
CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;
CREATE TABLE tenant_a.docs (id int PRIMARY KEY, body text); CREATE TABLE tenant_b.docs (id int PRIMARY KEY, body text);
CREATE TABLE tenant_a.users (id int PRIMARY KEY); CREATE TABLE tenant_b.users (id int PRIMARY KEY);
INSERT INTO tenant_a.docs VALUES (1, 'a'); INSERT INTO tenant_b.docs VALUES (1, 'b');
GRANT USAGE ON SCHEMA tenant_a, tenant_b TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA tenant_a, tenant_b TO app_user;

-- A self-referencing key (parent task) crosses tenants just as well.
-- include: base
-- expect: cross-tenant-foreign-key public.tasks
-- leak: INSERT INTO tasks VALUES (3, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 2); SELECT 1
CREATE TABLE tasks (id bigint PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), parent_id bigint REFERENCES tasks (id));
CREATE INDEX ON tasks (tenant_id);
INSERT INTO tasks VALUES (1, 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', NULL), (2, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', NULL);
ALTER TABLE tasks OWNER TO app_owner;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY; ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON tasks TO app_user;

-- include: base
-- forbid: public-grant-on-tenant-table
-- clean
-- isolated: SELECT count(*) FROM notes WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE notes (id serial PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON notes (tenant_id);
INSERT INTO notes (tenant_id, body) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE notes OWNER TO app_owner;
GRANT SELECT ON notes TO PUBLIC;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY; ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

-- include: base
-- expect: public-grant-on-tenant-table public.notes
-- leak: SELECT count(*) FROM notes WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE notes (id serial PRIMARY KEY, tenant_id uuid NOT NULL, body text);
CREATE INDEX ON notes (tenant_id);
INSERT INTO notes (tenant_id, body) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'a'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'b');
ALTER TABLE notes OWNER TO app_owner;
GRANT SELECT ON notes TO PUBLIC;

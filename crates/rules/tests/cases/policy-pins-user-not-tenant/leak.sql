-- A user in tenants A and B, working in A, reads their B documents.
-- include: base
-- include: supabase
-- expect: policy-pins-user-not-tenant public.documents
-- also: request.jwt.claim.sub=11111111-1111-1111-1111-111111111111
-- leak: SELECT count(*) FROM documents WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE documents (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), user_id uuid NOT NULL, body text);
CREATE INDEX ON documents (tenant_id);
INSERT INTO documents (tenant_id, user_id, body) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', '11111111-1111-1111-1111-111111111111', 'mine in A'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', '11111111-1111-1111-1111-111111111111', 'mine in B');
ALTER TABLE documents OWNER TO app_owner;
ALTER TABLE documents ENABLE ROW LEVEL SECURITY; ALTER TABLE documents FORCE ROW LEVEL SECURITY;
GRANT SELECT ON documents TO app_user;
CREATE POLICY own_docs ON documents USING (user_id = (SELECT auth.uid()));

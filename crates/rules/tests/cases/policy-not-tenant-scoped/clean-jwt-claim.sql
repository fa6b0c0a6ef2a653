-- The tenant as a JWT claim read through auth.jwt() (Supabase) or request.jwt.claims (PostgREST).
-- include: base
-- include: invoices
-- include: supabase
-- forbid: policy-not-tenant-scoped
-- clean
-- setting: request.jwt.claims
-- tenant: {"sub": "11111111-1111-1111-1111-111111111111", "tenant_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY claim ON invoices USING (tenant_id = ((SELECT auth.jwt()) ->> 'tenant_id')::uuid);
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
DROP POLICY tenant_self ON tenants;
CREATE POLICY tenant_self ON tenants USING (id = (current_setting('request.jwt.claims', true)::jsonb ->> 'tenant_id')::uuid);

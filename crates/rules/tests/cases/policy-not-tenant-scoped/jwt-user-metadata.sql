-- Supabase-style, but the tenant comes from user_metadata, which users edit themselves.
-- include: base
-- include: invoices
-- include: supabase
-- expect: policy-not-tenant-scoped public.invoices
-- setting: request.jwt.claims
-- tenant: {"sub": "11111111-1111-1111-1111-111111111111", "user_metadata": {"tenant_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}}
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY meta ON invoices USING (tenant_id = ((SELECT auth.jwt()) -> 'user_metadata' ->> 'tenant_id')::uuid);

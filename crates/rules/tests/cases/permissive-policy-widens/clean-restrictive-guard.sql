-- A restrictive tenant guard beside wide permissive policies.
-- include: base
-- include: invoices
-- forbid: permissive-policy-widens
-- forbid: policy-not-tenant-scoped
-- clean
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
-- isolated: INSERT INTO invoices VALUES (99, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 1); SELECT 1
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY anything ON invoices USING (true);
CREATE POLICY tenant_guard ON invoices AS RESTRICTIVE USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

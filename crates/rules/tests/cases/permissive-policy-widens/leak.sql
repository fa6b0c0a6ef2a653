-- include: base
-- include: invoices
-- expect: permissive-policy-widens public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY tenant_isolation ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY big_ones_public ON invoices FOR SELECT USING (total > 15);

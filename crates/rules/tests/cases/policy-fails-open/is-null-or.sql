-- include: base
-- include: invoices
-- expect: policy-fails-open public.invoices
-- tenant: <unset>
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY lenient ON invoices USING (current_setting('app.current_tenant', true) IS NULL OR tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

-- include: base
-- include: invoices
-- expect: policy-fails-open public.invoices
-- tenant:
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY empty_means_all ON invoices USING (coalesce(current_setting('app.current_tenant', true), '') = '' OR tenant_id::text = current_setting('app.current_tenant', true));

-- include: base
-- include: invoices
-- expect: policy-fails-open public.invoices
-- tenant: <unset>
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY fallback ON invoices USING (tenant_id = coalesce(nullif(current_setting('app.current_tenant', true), '')::uuid, tenant_id));

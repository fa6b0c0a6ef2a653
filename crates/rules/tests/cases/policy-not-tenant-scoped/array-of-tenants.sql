-- include: base
-- include: invoices
-- expect: policy-not-tenant-scoped public.invoices
-- also: app.tenant_list=aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa,bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY many ON invoices USING (tenant_id::text = ANY (string_to_array(current_setting('app.tenant_list', true), ',')));

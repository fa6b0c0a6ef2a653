-- UPDATE may touch any row as long as the result is mine: B's rows can be stolen into A.
-- include: base
-- include: invoices
-- expect: write-policy-not-tenant-scoped public.invoices
-- leak: UPDATE invoices SET tenant_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'; RESET ROLE; SELECT count(*) FROM invoices WHERE id = 2 AND tenant_id = 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY read_mine ON invoices FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY update_into_mine ON invoices FOR UPDATE USING (true) WITH CHECK (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

-- include: base
-- include: invoices
-- expect: write-policy-not-tenant-scoped public.invoices
-- leak: UPDATE invoices SET tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'; RESET ROLE; SELECT count(*) FROM invoices WHERE id = 1 AND tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY read_mine ON invoices FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY update_mine ON invoices FOR UPDATE USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid)) WITH CHECK (true);

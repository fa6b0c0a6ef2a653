-- include: base
-- include: invoices
-- expect: write-policy-not-tenant-scoped public.invoices
-- leak: DELETE FROM invoices; RESET ROLE; SELECT count(*) FROM (SELECT 1) x WHERE NOT EXISTS (SELECT 1 FROM invoices WHERE id = 2)
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY read_mine ON invoices FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY delete_any ON invoices FOR DELETE USING (true);

-- include: base
-- include: invoices
-- expect: write-policy-not-tenant-scoped public.invoices
-- leak: INSERT INTO invoices VALUES (99, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 1); SELECT 1
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY read_mine ON invoices FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY write_any ON invoices FOR INSERT WITH CHECK (true);

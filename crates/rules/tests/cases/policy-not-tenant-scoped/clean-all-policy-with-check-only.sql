-- FOR ALL with only WITH CHECK has no USING: it admits no existing row to anyone.
-- include: base
-- include: invoices
-- forbid: policy-not-tenant-scoped
-- forbid: write-policy-not-tenant-scoped
-- clean
-- isolated: SELECT count(*) FROM invoices
-- isolated: INSERT INTO invoices VALUES (99, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 1); SELECT 1
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY write_mine ON invoices FOR ALL WITH CHECK (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

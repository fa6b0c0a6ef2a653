-- include: base
-- include: invoices
-- expect: permissive-policy-widens public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
ALTER TABLE invoices ADD COLUMN is_shared boolean NOT NULL DEFAULT false;
UPDATE invoices SET is_shared = true WHERE id = 2;
CREATE POLICY tenant_isolation ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY shared ON invoices FOR SELECT TO PUBLIC USING (is_shared);

-- include: base
-- include: invoices
-- expect: rls-disabled public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
DROP POLICY tenant_isolation ON invoices;
ALTER TABLE invoices DISABLE ROW LEVEL SECURITY;

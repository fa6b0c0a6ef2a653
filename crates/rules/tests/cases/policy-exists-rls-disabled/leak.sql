-- include: base
-- include: invoices
-- expect: policy-exists-rls-disabled public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER TABLE invoices DISABLE ROW LEVEL SECURITY;

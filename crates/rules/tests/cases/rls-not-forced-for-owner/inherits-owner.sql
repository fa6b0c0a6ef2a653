-- include: base
-- include: invoices
-- expect: rls-not-forced-for-owner public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
GRANT app_owner TO app_user;

-- The naive setup: the application connects as the role that owns its tables.
-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- expect: rls-not-forced-for-owner public.invoices
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices OWNER TO app_user;

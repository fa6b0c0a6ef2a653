-- NOINHERIT stops privileges flowing, not SET ROLE: the app can become the owner at will.
-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- expect: rls-not-forced-for-owner public.invoices
-- leak: SET LOCAL ROLE app_owner; SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
ALTER ROLE app_user NOINHERIT;
GRANT app_owner TO app_user;

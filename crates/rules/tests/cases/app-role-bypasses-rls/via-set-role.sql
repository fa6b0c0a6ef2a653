-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- expect: app-role-bypasses-rls app_user
-- leak: SET LOCAL ROLE support_admin; SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE ROLE support_admin NOLOGIN BYPASSRLS;
GRANT SELECT ON invoices TO support_admin;
GRANT support_admin TO app_user;

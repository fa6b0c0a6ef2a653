-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- expect: app-role-bypasses-rls app_user
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER ROLE app_user BYPASSRLS;

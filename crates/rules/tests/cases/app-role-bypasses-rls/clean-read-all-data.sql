-- pg_read_all_data grants SELECT everywhere but does not bypass row-level security.
-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- forbid: app-role-bypasses-rls
-- clean
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
GRANT pg_read_all_data TO app_user;

-- The view's owner owns the table and RLS is not forced: the owner skips the policies.
-- include: base
-- include: invoices
-- expect: view-bypasses-rls public.recent_invoices
-- leak: SELECT count(*) FROM recent_invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER TABLE invoices NO FORCE ROW LEVEL SECURITY;
CREATE VIEW recent_invoices AS SELECT id, tenant_id, total FROM invoices WHERE id > 0;
ALTER VIEW recent_invoices OWNER TO app_owner;
GRANT SELECT ON recent_invoices TO app_user;

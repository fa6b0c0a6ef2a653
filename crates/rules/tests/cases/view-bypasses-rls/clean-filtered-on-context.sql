-- A definer-rights view that filters on the tenant context itself.
-- include: base
-- include: invoices
-- forbid: view-bypasses-rls
-- clean
-- isolated: SELECT count(*) FROM my_invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE VIEW my_invoices WITH (security_barrier) AS SELECT i.id, i.tenant_id, i.total FROM invoices i WHERE i.tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid);
GRANT SELECT ON my_invoices TO app_user;

-- An invoker-looking report built on a definer-rights view owned by a superuser.
-- include: base
-- include: invoices
-- expect: view-bypasses-rls public.invoice_report
-- leak: SELECT count(*) FROM invoice_report WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE VIEW invoice_base AS SELECT id, tenant_id, total FROM invoices;
CREATE VIEW invoice_report AS SELECT tenant_id, total FROM invoice_base WHERE total > 0;
ALTER VIEW invoice_report OWNER TO app_owner;
GRANT SELECT ON invoice_base TO app_owner;
GRANT SELECT ON invoice_report TO app_user;

-- A definer-rights view on top of a security_invoker view: PostgreSQL checks the inner view's
-- tables as the user running the query (not the outer view's owner), so the policies still apply.
-- include: base
-- include: invoices
-- forbid: view-bypasses-rls
-- clean
-- isolated: SELECT count(*) FROM invoice_report WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE VIEW invoice_base WITH (security_invoker = true) AS SELECT id, tenant_id, total FROM invoices;
CREATE VIEW invoice_report AS SELECT tenant_id, total FROM invoice_base;
GRANT SELECT ON invoice_base, invoice_report TO app_user;

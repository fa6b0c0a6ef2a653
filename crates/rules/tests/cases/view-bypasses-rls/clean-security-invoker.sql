-- include: base
-- include: invoices
-- forbid: view-bypasses-rls
-- clean
-- isolated: SELECT count(*) FROM invoice_totals WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE VIEW invoice_totals WITH (security_invoker = true) AS SELECT tenant_id, sum(total) AS total FROM invoices GROUP BY tenant_id;
GRANT SELECT ON invoice_totals TO app_user;

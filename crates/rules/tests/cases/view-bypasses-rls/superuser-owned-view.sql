-- include: base
-- include: invoices
-- expect: view-bypasses-rls public.invoice_totals
-- leak: SELECT count(*) FROM invoice_totals WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE VIEW invoice_totals AS SELECT tenant_id, sum(total) AS total FROM invoices GROUP BY tenant_id;
GRANT SELECT ON invoice_totals TO app_user;

-- include: base
-- include: invoices
-- expect: materialized-view-exposes-tenant-data public.invoice_stats
-- leak: SELECT count(*) FROM invoice_stats WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE MATERIALIZED VIEW invoice_stats AS SELECT tenant_id, count(*) AS n FROM invoices GROUP BY tenant_id;
GRANT SELECT ON invoice_stats TO app_user;

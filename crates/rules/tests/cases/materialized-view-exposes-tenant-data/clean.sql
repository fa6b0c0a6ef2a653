-- The materialized view exists for an internal job; the application cannot read it.
-- include: base
-- include: invoices
-- forbid: materialized-view-exposes-tenant-data
-- clean
-- isolated: SELECT count(*) FROM invoice_stats WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE MATERIALIZED VIEW invoice_stats AS SELECT tenant_id, count(*) AS n FROM invoices GROUP BY tenant_id;
REVOKE ALL ON invoice_stats FROM PUBLIC;

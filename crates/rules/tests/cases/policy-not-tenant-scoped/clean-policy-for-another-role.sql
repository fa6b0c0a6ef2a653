-- A wide policy for a role the application is not: it does not apply to the application.
-- include: base
-- include: invoices
-- config: app_roles = ["app_user"]
-- forbid: policy-not-tenant-scoped
-- forbid: permissive-policy-widens
-- clean
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE ROLE reporting NOLOGIN;
GRANT SELECT ON invoices TO reporting;
CREATE POLICY reporting_all ON invoices FOR SELECT TO reporting USING (true);

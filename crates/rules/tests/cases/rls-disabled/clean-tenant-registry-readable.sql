-- The table of tenants is what tenant columns reference; it does not hold tenant data, and apps
-- often read it before a tenant is known (subdomain -> tenant). It is not a tenant table.
-- include: base
-- include: invoices
-- forbid: rls-disabled
-- clean
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;

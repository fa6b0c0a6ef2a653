-- An empty default names no tenant: it is what RESET leaves, and the policy fails closed on it.
-- include: base
-- include: invoices
-- forbid: session-level-tenant-context
-- clean
-- tenant: <login>
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER ROLE app_user SET app.current_tenant = '';

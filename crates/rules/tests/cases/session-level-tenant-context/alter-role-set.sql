-- include: base
-- include: invoices
-- expect: session-level-tenant-context app_user
-- tenant: <login>
-- leak: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
ALTER ROLE app_user SET app.current_tenant = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb';

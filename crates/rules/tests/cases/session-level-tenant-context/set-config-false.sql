-- include: base
-- include: invoices
-- expect: session-level-tenant-context public.set_tenant
-- leak: SELECT set_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'); COMMIT; BEGIN; SET LOCAL ROLE app_user; SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE FUNCTION set_tenant(t text) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t, false) $$;

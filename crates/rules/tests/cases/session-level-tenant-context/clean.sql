-- set_config(..., true): the tenant ends with the transaction.
-- include: base
-- include: invoices
-- forbid: session-level-tenant-context
-- clean
-- isolated: SELECT set_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'); COMMIT; BEGIN; SET LOCAL ROLE app_user; SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE FUNCTION set_tenant(t text) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t, true) $$;

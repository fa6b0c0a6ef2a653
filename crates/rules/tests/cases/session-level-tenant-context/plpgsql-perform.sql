-- include: base
-- include: invoices
-- expect: session-level-tenant-context public.use_tenant
-- leak: CALL use_tenant('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'); COMMIT; BEGIN; SET LOCAL ROLE app_user; SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE PROCEDURE use_tenant(t text) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('app.current_tenant', t, false);
END $$;

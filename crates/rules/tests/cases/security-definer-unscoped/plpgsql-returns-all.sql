-- include: base
-- include: invoices
-- expect: security-definer-unscoped public.all_invoices
-- leak: SELECT count(*) FROM all_invoices() WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE FUNCTION all_invoices() RETURNS SETOF invoices LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$ BEGIN RETURN QUERY SELECT * FROM invoices; END $$;

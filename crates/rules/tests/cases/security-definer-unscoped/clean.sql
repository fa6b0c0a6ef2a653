-- SECURITY DEFINER that filters on the context and pins its search_path.
-- include: base
-- include: invoices
-- forbid: security-definer-unscoped
-- forbid: security-definer-search-path
-- clean
-- isolated: SELECT count(*) FROM (SELECT my_total() AS t) x WHERE t <> 10
CREATE FUNCTION my_total() RETURNS numeric LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT sum(total) FROM public.invoices WHERE tenant_id = current_setting('app.current_tenant')::uuid $$;

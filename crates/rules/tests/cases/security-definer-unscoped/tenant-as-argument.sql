-- Filters on a tenant the caller passes in, not on the context.
-- include: base
-- include: invoices
-- expect: security-definer-unscoped public.invoice_total
-- leak: SELECT invoice_total('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb')::int
CREATE FUNCTION invoice_total(p_tenant uuid) RETURNS numeric LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT sum(total) FROM invoices WHERE tenant_id = p_tenant $$;

-- The caller shadows the unqualified table with a temporary one (pg_temp is searched first).
-- include: base
-- include: invoices
-- expect: security-definer-search-path public.count_mine
-- leak: CREATE TEMP TABLE invoices (tenant_id uuid, total numeric); INSERT INTO invoices SELECT 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 0 FROM generate_series(1, 5); SELECT count_mine() - 1
CREATE FUNCTION count_mine() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  RETURN (SELECT count(*) FROM invoices WHERE tenant_id = current_setting('app.current_tenant')::uuid);
END $$;

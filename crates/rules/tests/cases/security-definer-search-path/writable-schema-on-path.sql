-- The pinned search_path starts with a schema the application can create tables in.
-- include: base
-- include: invoices
-- expect: security-definer-search-path public.count_mine
-- leak: CREATE TABLE scratch.invoices (tenant_id uuid, total numeric); INSERT INTO scratch.invoices SELECT 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 0 FROM generate_series(1, 5); SELECT count_mine() - 1
CREATE SCHEMA scratch;
GRANT USAGE, CREATE ON SCHEMA scratch TO app_user;
CREATE FUNCTION count_mine() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = scratch, public, pg_temp AS $$
BEGIN
  RETURN (SELECT count(*) FROM invoices WHERE tenant_id = current_setting('app.current_tenant')::uuid);
END $$;

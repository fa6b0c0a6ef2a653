-- WITH CHECK (true), but a BEFORE trigger overwrites the tenant from the context on every write.
-- include: base
-- include: invoices
-- forbid: write-policy-not-tenant-scoped
-- clean
-- isolated: INSERT INTO invoices VALUES (99, 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 1); RESET ROLE; SELECT count(*) FROM invoices WHERE id = 99 AND tenant_id = 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY read_mine ON invoices FOR SELECT USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
CREATE POLICY insert_any ON invoices FOR INSERT WITH CHECK (true);
CREATE FUNCTION stamp_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.tenant_id := current_setting('app.current_tenant')::uuid;
  RETURN NEW;
END $$;
CREATE TRIGGER stamp_tenant BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION stamp_tenant();

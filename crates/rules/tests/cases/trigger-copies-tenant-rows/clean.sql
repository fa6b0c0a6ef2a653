-- The copy carries its tenant and is protected like any tenant table.
-- include: base
-- include: invoices
-- forbid: trigger-copies-tenant-rows
-- clean
-- isolated: SELECT count(*) FROM search_index WHERE doc = 'invoice 20'
CREATE TABLE search_index (tenant_id uuid NOT NULL, doc text NOT NULL);
CREATE INDEX ON search_index (tenant_id);
ALTER TABLE search_index OWNER TO app_owner;
ALTER TABLE search_index ENABLE ROW LEVEL SECURITY;
ALTER TABLE search_index FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON search_index USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT, INSERT ON search_index TO app_user;
CREATE FUNCTION index_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO search_index (tenant_id, doc) VALUES (NEW.tenant_id, 'invoice ' || NEW.total);
  RETURN NEW;
END $$;
CREATE TRIGGER index_invoice AFTER INSERT OR UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION index_invoice();
UPDATE invoices SET total = total;

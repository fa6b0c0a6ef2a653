-- include: base
-- include: invoices
-- expect: trigger-copies-tenant-rows public.search_index
-- leak: SELECT count(*) FROM search_index WHERE doc = 'invoice 20'
CREATE TABLE search_index (doc text NOT NULL);
GRANT SELECT, INSERT ON search_index TO app_user;
CREATE FUNCTION index_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO search_index (doc) VALUES ('invoice ' || NEW.total);
  RETURN NEW;
END $$;
CREATE TRIGGER index_invoice AFTER INSERT OR UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION index_invoice();
UPDATE invoices SET total = total;

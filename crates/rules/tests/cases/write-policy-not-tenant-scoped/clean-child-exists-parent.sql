-- A child table without a tenant column, protected through an EXISTS on its parent.
-- include: base
-- include: invoices
-- forbid: write-policy-not-tenant-scoped
-- forbid: policy-not-tenant-scoped
-- clean
-- isolated: SELECT count(*) FROM invoice_lines WHERE invoice_id = 2
-- isolated: INSERT INTO invoice_lines (invoice_id, amount) VALUES (2, 1); SELECT 1
CREATE TABLE invoice_lines (id serial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices (id), amount numeric);
CREATE INDEX ON invoice_lines (invoice_id);
INSERT INTO invoice_lines (invoice_id, amount) VALUES (1, 5), (2, 7);
ALTER TABLE invoice_lines OWNER TO app_owner;
ALTER TABLE invoice_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoice_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY via_invoice ON invoice_lines USING (EXISTS (SELECT 1 FROM invoices i WHERE i.id = invoice_lines.invoice_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON invoice_lines TO app_user;
GRANT USAGE ON SEQUENCE invoice_lines_id_seq TO app_user;

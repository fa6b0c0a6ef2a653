-- A table with no tenant column that references a tenant table holds tenant data too.
-- include: base
-- include: invoices
-- expect: rls-disabled public.invoice_lines
-- leak: SELECT count(*) FROM invoice_lines WHERE invoice_id = 2
CREATE TABLE invoice_lines (id serial PRIMARY KEY, invoice_id bigint NOT NULL REFERENCES invoices (id), amount numeric);
INSERT INTO invoice_lines (invoice_id, amount) VALUES (1, 5), (2, 7);
ALTER TABLE invoice_lines OWNER TO app_owner;
GRANT SELECT ON invoice_lines TO app_user;

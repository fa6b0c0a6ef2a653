-- Forced RLS with a separate owner; a global price list with no tenant data stays unflagged.
-- include: base
-- include: invoices
-- forbid: rls-disabled
-- clean
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL, price numeric);
ALTER TABLE plans OWNER TO app_owner;
GRANT SELECT ON plans TO app_user;

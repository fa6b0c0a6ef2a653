-- An auditor login that cannot read one catalog: the audit reports what it could not check.
-- include: base
-- include: invoices
-- audit-as: auditor
-- expect: unchecked-privileges app
CREATE ROLE auditor LOGIN;
REVOKE SELECT ON pg_catalog.pg_db_role_setting FROM PUBLIC;

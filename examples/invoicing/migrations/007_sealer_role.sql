-- The sealer: a login that may run the audit log's sealing step and nothing else. It chains
-- committed events (audit.seal_claim takes the sealer's lock and hands it the next rows above
-- the floor, audit.seal_store stores the links it hashed, checked against the claim and each
-- tenant's head). Both are
-- SECURITY DEFINER functions of the NOLOGIN audit_owner; the sealer holds no table privilege.
-- Not an app role: it never serves a request, so it stays out of tenantguard.toml's app_roles.
-- Run the service with --sealer-url (or `tenantguard audit-log seal --every-ms 200`) as it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'invoicing_sealer') THEN
    CREATE ROLE invoicing_sealer LOGIN PASSWORD 'invoicing-sealer-dev-password'
      NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$;

GRANT USAGE ON SCHEMA audit TO invoicing_sealer;
GRANT EXECUTE ON FUNCTION audit.seal_claim(integer),
    audit.seal_store(text[], bigint[], bytea[], integer[], bigint[], bytea[], bytea[])
    TO invoicing_sealer;

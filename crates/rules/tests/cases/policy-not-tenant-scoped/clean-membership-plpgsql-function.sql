-- The same check written in PL/pgSQL.
-- include: base
-- include: invoices
-- include: supabase
-- forbid: policy-not-tenant-scoped
-- forbid: write-policy-not-tenant-scoped
-- clean
-- setting: request.jwt.claim.sub
-- tenant: 11111111-1111-1111-1111-111111111111
-- isolated: SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE memberships (user_id uuid NOT NULL, tenant_id uuid NOT NULL REFERENCES tenants (id), PRIMARY KEY (tenant_id, user_id));
INSERT INTO memberships VALUES ('11111111-1111-1111-1111-111111111111', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
ALTER TABLE memberships OWNER TO app_owner;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY; ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY own_memberships ON memberships FOR SELECT USING (user_id = (SELECT auth.uid()));
GRANT SELECT ON memberships TO app_user;
DROP POLICY tenant_isolation ON invoices;
DROP POLICY tenant_self ON tenants;
CREATE FUNCTION is_member_of(t uuid) RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ BEGIN RETURN EXISTS (SELECT 1 FROM memberships m WHERE m.tenant_id = t AND m.user_id = auth.uid()); END $$;
CREATE POLICY member_of ON invoices USING (is_member_of(tenant_id));
CREATE POLICY tenant_self ON tenants USING (is_member_of(id));

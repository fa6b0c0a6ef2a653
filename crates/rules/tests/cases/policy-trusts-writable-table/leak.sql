-- The user may add their own memberships: to any tenant.
-- include: base
-- include: invoices
-- include: supabase
-- expect: policy-trusts-writable-table public.invoices
-- setting: request.jwt.claim.sub
-- tenant: 11111111-1111-1111-1111-111111111111
-- leak: INSERT INTO memberships VALUES ('11111111-1111-1111-1111-111111111111', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb'); SELECT count(*) FROM invoices WHERE tenant_id <> 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa'
CREATE TABLE memberships (user_id uuid NOT NULL, tenant_id uuid NOT NULL REFERENCES tenants (id), PRIMARY KEY (tenant_id, user_id));
INSERT INTO memberships VALUES ('11111111-1111-1111-1111-111111111111', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
ALTER TABLE memberships OWNER TO app_owner;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY own_memberships ON memberships USING (user_id = (SELECT auth.uid()));
DROP POLICY tenant_isolation ON invoices;
CREATE POLICY member_of ON invoices USING (tenant_id IN (SELECT m.tenant_id FROM memberships m WHERE m.user_id = (SELECT auth.uid())));
GRANT SELECT, INSERT ON memberships TO app_user;

-- tenantguard demo: a small project-management SaaS with the mistakes real ones ship.
-- Loaded into a throwaway cluster by `tenantguard demo`; every flaw below is a real leak.

CREATE ROLE saas_owner NOLOGIN;
CREATE ROLE app_user LOGIN PASSWORD 'demo';
GRANT USAGE ON SCHEMA public TO app_user;

CREATE TABLE plans (id int PRIMARY KEY, name text NOT NULL, seats int NOT NULL);          -- global: fine
CREATE TABLE tenants (id uuid PRIMARY KEY, slug text NOT NULL UNIQUE, plan_id int REFERENCES plans (id));
CREATE TABLE users (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), email text NOT NULL UNIQUE);
CREATE TABLE projects (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  name text NOT NULL,
  UNIQUE (tenant_id, id)
);
CREATE INDEX projects_tenant ON projects (tenant_id);
CREATE TABLE tasks (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id),
  project_id bigint NOT NULL REFERENCES projects (id),          -- flaw: not (tenant_id, project_id)
  title text NOT NULL,
  is_public boolean NOT NULL DEFAULT false
);
CREATE INDEX tasks_tenant ON tasks (tenant_id);
CREATE TABLE comments (id bigserial PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks (id), body text NOT NULL);
CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants (id), amount_cents bigint NOT NULL);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, actor text NOT NULL, action text NOT NULL,
  entity text NOT NULL, old_value jsonb, new_value jsonb, at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);

ALTER TABLE plans OWNER TO saas_owner;
ALTER TABLE tenants OWNER TO saas_owner;
ALTER TABLE users OWNER TO saas_owner;
ALTER TABLE projects OWNER TO saas_owner;
ALTER TABLE tasks OWNER TO saas_owner;
ALTER TABLE comments OWNER TO saas_owner;
ALTER TABLE invoices OWNER TO saas_owner;
ALTER TABLE audit_log OWNER TO app_user;                          -- flaw: the app owns its audit log

GRANT SELECT ON plans, tenants TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, projects, tasks, comments, invoices TO app_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO app_user;

-- tenants and projects: done right (forced RLS, separate owner, context read once).
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants USING (id = (SELECT current_setting('app.current_tenant', true)::uuid));
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON projects USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

-- users: a policy that only checks that *some* tenant is set.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY has_tenant ON users USING (current_setting('app.current_tenant', true) IS NOT NULL);

-- tasks: scoped, but a second permissive policy ORs public tasks of every tenant back in.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tasks USING (tenant_id = current_setting('app.current_tenant')::uuid);
CREATE POLICY public_tasks ON tasks FOR SELECT USING (is_public);

-- comments: a child table nobody remembered.
-- invoices: RLS switched on in staging, never in the migration.
CREATE POLICY tenant_isolation ON invoices USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));

-- A reporting view created by the superuser: it runs as its owner and skips every policy.
CREATE VIEW invoice_totals AS SELECT tenant_id, sum(amount_cents) AS cents FROM invoices GROUP BY tenant_id;
GRANT SELECT ON invoice_totals TO app_user;

-- A helper that sets the tenant for the session, not the transaction.
CREATE FUNCTION set_tenant(t uuid) RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.current_tenant', t::text, false) $$;

-- A support function that trusts its argument, running as the superuser.
CREATE FUNCTION tenant_revenue(p_tenant uuid) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
AS $$ SELECT sum(amount_cents)::bigint FROM invoices WHERE tenant_id = p_tenant $$;

INSERT INTO plans VALUES (1, 'free', 3), (2, 'team', 25);
INSERT INTO tenants VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'acme', 2), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'globex', 1);
INSERT INTO users VALUES ('a0000000-0000-0000-0000-000000000001', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'wile@acme.example'),
                         ('b0000000-0000-0000-0000-000000000001', 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'hank@globex.example');
INSERT INTO projects (tenant_id, name) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 'Rocket skates'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 'Doomsday device');
INSERT INTO tasks (tenant_id, project_id, title, is_public) VALUES
  ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 1, 'Order more ACME glue', false),
  ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 2, 'Hire Homer', true);
INSERT INTO comments (task_id, body) VALUES (1, 'glue is sticky'), (2, 'Homer starts Monday');
INSERT INTO invoices (tenant_id, amount_cents) VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 4200), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 990000);

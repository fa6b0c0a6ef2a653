-- include: base
-- expect: partition-without-rls public.events_b
-- leak: SELECT count(*) FROM events_b
CREATE TABLE events (tenant_id uuid NOT NULL, id int NOT NULL, body text, PRIMARY KEY (tenant_id, id)) PARTITION BY LIST (tenant_id);
CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa');
CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb');
INSERT INTO events VALUES ('aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', 1, 'a'), ('bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', 2, 'b');
ALTER TABLE events OWNER TO app_owner; ALTER TABLE events_a OWNER TO app_owner; ALTER TABLE events_b OWNER TO app_owner;
ALTER TABLE events ENABLE ROW LEVEL SECURITY; ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events USING (tenant_id = (SELECT current_setting('app.current_tenant', true)::uuid));
GRANT SELECT ON events TO app_user;
GRANT SELECT ON events_a, events_b TO app_user;

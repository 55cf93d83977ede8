-- The console filters the audit log by actor and by action, newest first
-- (storage.AuditFilter): an index each, ending in id so that an exact
-- match is read in id order without a sort; a prefix that matches few
-- events is read from its index range (sqlite/audit.go).
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

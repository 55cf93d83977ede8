-- Scan tickets (storage.ScanTicket, docs/contract.md §1.6): PC sign-ins
-- waiting on a person to scan a mini-program code. Times are microseconds
-- (NULL: no value), as in 0001.

-- id is the code's scene (at most 32 characters, checked by the store).
-- status is a storage.ScanStatus; account_id is '' until someone scanned.
CREATE TABLE scan_tickets (
    id           TEXT PRIMARY KEY,
    browser_hash BLOB,
    client_id    TEXT NOT NULL,
    appid        TEXT NOT NULL,
    request      TEXT NOT NULL,
    status       TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    created_at   INTEGER,
    updated_at   INTEGER,
    expires_at   INTEGER             -- NULL: never expires
) STRICT;
-- Other instances poll for changes in (updated_at, id) order; id makes the
-- order total without a sort.
CREATE INDEX scan_tickets_updated ON scan_tickets (updated_at, id);
-- Cleanup, oldest first; never-expiring rows are left out.
CREATE INDEX scan_tickets_expires ON scan_tickets (expires_at) WHERE expires_at IS NOT NULL;

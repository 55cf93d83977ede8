-- 0007_scan_tickets: scan tickets (storage.ScanTicket, docs/contract.md
-- §1.6), PC sign-ins waiting on a person to scan a mini-program code.
-- Conventions as in 0001 (NULL optional times, NULL for empty bytes).

-- id is the code's scene (at most 32 characters, checked by the store);
-- account_id is '' until someone scanned.
CREATE TABLE scan_tickets (
    id           text        PRIMARY KEY,
    browser_hash bytea,
    client_id    text        NOT NULL,
    app_id       text        NOT NULL,
    request      text        NOT NULL,
    status       text        NOT NULL
        CHECK (status IN ('pending', 'scanned', 'approved', 'denied', 'used')),
    account_id   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    expires_at   timestamptz           -- NULL: never expires
);
-- Other instances poll for changes in (updated_at, id) order.
CREATE INDEX scan_tickets_updated_at ON scan_tickets (updated_at, id);
-- Cleanup, oldest first.
CREATE INDEX scan_tickets_expires_at ON scan_tickets (expires_at) WHERE expires_at IS NOT NULL;

-- 0005_browser_signin: the browser sign-in fields of a client
-- (storage.Client, docs/contract.md §1.5). Array columns are NULL for empty
-- lists, like the other list columns; existing clients get none of them, so
-- they keep working as grant-only clients.
ALTER TABLE clients ADD COLUMN redirect_uris             text[];
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text[];
ALTER TABLE clients ADD COLUMN skip_consent              boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri    text    NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN wechat_apps               text[];

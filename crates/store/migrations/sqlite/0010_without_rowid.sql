-- Authorization codes and refresh tokens are found only by their hash, so
-- their tables are kept in the order of the hash itself (WITHOUT ROWID):
-- one b-tree each instead of a table and its primary-key index, so an
-- insert writes one page fewer and a lookup descends one tree instead of
-- two (docs/performance.md, the code exchange on SQLite). No table refers
-- to either, so each is rebuilt in place: made anew, filled, swapped.

CREATE TABLE auth_codes_new (
    code_hash TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    auth_time BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    consumed_ms BIGINT,
    origin_jti TEXT
) WITHOUT ROWID;
INSERT INTO auth_codes_new (code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce,
    code_challenge, auth_time, created_ms, expires_ms, consumed_ms, origin_jti)
SELECT code_hash, pool_id, client_id, sub, redirect_uri, scopes, nonce,
    code_challenge, auth_time, created_ms, expires_ms, consumed_ms, origin_jti
FROM auth_codes;
DROP TABLE auth_codes;
ALTER TABLE auth_codes_new RENAME TO auth_codes;

CREATE TABLE refresh_tokens_new (
    token_hash TEXT PRIMARY KEY,
    origin_jti TEXT NOT NULL REFERENCES token_origins(origin_jti) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    replaced_ms BIGINT
) WITHOUT ROWID;
INSERT INTO refresh_tokens_new (token_hash, origin_jti, created_ms, expires_ms, replaced_ms)
SELECT token_hash, origin_jti, created_ms, expires_ms, replaced_ms FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_origin ON refresh_tokens(origin_jti);

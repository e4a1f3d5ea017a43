-- Authorization codes of the OAuth code flow, stored as SHA-256 of the
-- code, single use; origin_jti records what an exchange issued, so a
-- replayed code can revoke it.
CREATE TABLE auth_codes (
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
);

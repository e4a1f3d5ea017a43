-- Identity core: pools, clients, resource servers, users, groups, tokens,
-- signing keys, one-time codes, challenge sessions. Times are epoch
-- milliseconds; flags are 0/1 integers; settings and attributes are JSON text.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE user_pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config_key TEXT UNIQUE,
    settings TEXT NOT NULL,
    domain TEXT UNIQUE,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE app_clients (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret TEXT,
    config_key TEXT,
    settings TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE (pool_id, config_key)
);
CREATE INDEX app_clients_pool ON app_clients(pool_id, id);

CREATE TABLE resource_servers (
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    PRIMARY KEY (pool_id, identifier)
);

CREATE TABLE users (
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    sub TEXT NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    email_key TEXT,
    phone_key TEXT,
    preferred_username_key TEXT,
    status TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    attributes TEXT NOT NULL,
    attr_email TEXT,
    attr_phone_number TEXT,
    attr_name TEXT,
    attr_given_name TEXT,
    attr_family_name TEXT,
    attr_preferred_username TEXT,
    password_hash TEXT,
    password_set_ms BIGINT,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    last_failure_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (pool_id, username_key),
    UNIQUE (pool_id, sub),
    UNIQUE (pool_id, email_key),
    UNIQUE (pool_id, phone_key),
    UNIQUE (pool_id, preferred_username_key)
);

CREATE TABLE user_groups (
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    role_arn TEXT,
    precedence BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name)
);

CREATE TABLE group_members (
    pool_id TEXT NOT NULL,
    group_name TEXT NOT NULL,
    sub TEXT NOT NULL,
    PRIMARY KEY (pool_id, group_name, sub),
    FOREIGN KEY (pool_id, group_name) REFERENCES user_groups(pool_id, name) ON DELETE CASCADE,
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members(pool_id, sub);

-- One row per authentication: the origin_jti shared by every token that
-- descends from it. Revoking it revokes them all.
CREATE TABLE token_origins (
    origin_jti TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    scopes TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE INDEX token_origins_user ON token_origins(pool_id, sub);

-- Refresh tokens, stored as SHA-256 of the token.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    origin_jti TEXT NOT NULL REFERENCES token_origins(origin_jti) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    replaced_ms BIGINT
);
CREATE INDEX refresh_tokens_origin ON refresh_tokens(origin_jti);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    retired_ms BIGINT
);
CREATE INDEX signing_keys_pool ON signing_keys(pool_id, purpose);

-- One-time codes (sign-up confirmation, password reset), stored hashed.
CREATE TABLE codes (
    pool_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_id, sub, purpose),
    FOREIGN KEY (pool_id, sub) REFERENCES users(pool_id, sub) ON DELETE CASCADE
);

-- Challenge sessions between InitiateAuth and RespondToAuthChallenge,
-- stored as SHA-256 of the Session string.
CREATE TABLE auth_sessions (
    session_hash TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    challenge TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    consumed_ms BIGINT
);

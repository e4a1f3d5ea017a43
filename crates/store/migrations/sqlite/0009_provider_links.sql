-- External identities linked to a pool's users (AdminLinkProviderForUser):
-- signing in through `provider_name` as `subject` signs in as the user `sub`.
CREATE TABLE provider_links (
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    provider_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    sub TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (pool_id, provider_name, subject)
);
CREATE INDEX provider_links_user ON provider_links (pool_id, sub);

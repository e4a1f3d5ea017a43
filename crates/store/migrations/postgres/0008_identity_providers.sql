-- A pool's external identity providers (OIDC, SAML, the social types):
-- their settings as CreateIdentityProvider takes them, kept as JSON.
CREATE TABLE identity_providers (
    pool_id TEXT NOT NULL REFERENCES user_pools(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    details TEXT NOT NULL,
    attribute_mapping TEXT NOT NULL,
    idp_identifiers TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (pool_id, name)
);

-- The nodes serving a WebSocket API, so that a node can hand a
-- management call or a broadcast to the node holding a connection
-- (connection ids carry the node's tag). Rows are refreshed while a node
-- runs and removed when it stops; stale ones are ignored.
CREATE TABLE gateway_nodes (
    api TEXT NOT NULL,
    node_tag TEXT NOT NULL,
    url TEXT NOT NULL,
    seen_ms BIGINT NOT NULL,
    PRIMARY KEY (api, node_tag)
);

-- The tokens a resend replaced (their SHA-256 hashes, as links.token_hash): an old link then
-- opens a page that names the business and says a newer link was sent, instead of a bare
-- "not found". A replaced token pays nothing: only links.token_hash opens the payment page.
CREATE TABLE replaced_link_tokens (
    token_hash bytea PRIMARY KEY,
    link_id uuid NOT NULL REFERENCES links (link_id),
    replaced_at timestamptz NOT NULL DEFAULT now()
);

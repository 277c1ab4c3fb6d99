-- The payment link's URL (its token is a secret) is kept apart from the email's bodies, which
-- hold it redacted (`…/pay/<redacted>`), and forgotten once the email is sent or failed for
-- good; the delivery puts it back into the email it sends.
ALTER TABLE notifications ADD COLUMN link_url text;

-- Emails written before: those still to send keep their URL here until they are sent...
UPDATE notifications
   SET link_url = substring(text FROM 'Complete Payment: (https?://[^[:space:]]+)')
 WHERE kind = 'payment_link' AND status IN ('pending', 'sending');
UPDATE notifications
   SET text = replace(text, link_url,
                      regexp_replace(link_url, '/[^/]*$', '/<redacted>')),
       html = replace(html, link_url,
                      regexp_replace(link_url, '/[^/]*$', '/&lt;redacted&gt;'))
 WHERE link_url IS NOT NULL;
-- ...and those sent or failed lose it now.
UPDATE notifications
   SET text = regexp_replace(text, '/pay/[A-Za-z0-9_-]+', '/pay/<redacted>', 'g'),
       html = regexp_replace(html, '/pay/[A-Za-z0-9_-]+', '/pay/&lt;redacted&gt;', 'g')
 WHERE kind = 'payment_link' AND status IN ('sent', 'failed');

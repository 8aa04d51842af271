-- Hallow events that reference a content item, pulled (hallow_events) or pushed
-- (webhook_events); an event seen both ways counts once.
SELECT event_id,
       any_value(user_id) AS user_id,
       any_value(event_type) AS event_type,
       any_value(content_id) AS content_id
FROM (
    SELECT event_id, user_id, event_type,
           json_extract_string(properties, '$.content_id') AS content_id
    FROM {{ source('lake', 'hallow_events') }}
    UNION ALL
    SELECT event_id, user_id, event_type,
           json_extract_string(properties, '$.content_id')
    FROM {{ source('lake', 'webhook_events') }}
)
WHERE content_id IS NOT NULL
GROUP BY event_id

-- The five prayer types with the most sessions in each age group.
-- A session is a Hallow event, pulled (hallow_events) or pushed (webhook_events), that
-- references a content item; an event seen both ways counts once. Ages come from
-- hallow_users, prayer types from hallow_content.
WITH sessions AS (
    SELECT event_id, any_value(user_id) AS user_id, any_value(content_id) AS content_id
    FROM (
        SELECT event_id, user_id, json_extract_string(properties, '$.content_id') AS content_id
        FROM hallow_events
        UNION ALL
        SELECT event_id, user_id, json_extract_string(properties, '$.content_id')
        FROM webhook_events
    )
    WHERE content_id IS NOT NULL
    GROUP BY event_id
),
bucketed AS (
    SELECT CASE
               WHEN u.age BETWEEN 18 AND 24 THEN '18-24'
               WHEN u.age BETWEEN 25 AND 34 THEN '25-34'
               WHEN u.age BETWEEN 35 AND 44 THEN '35-44'
               WHEN u.age BETWEEN 45 AND 54 THEN '45-54'
               WHEN u.age BETWEEN 55 AND 64 THEN '55-64'
               WHEN u.age >= 65 THEN '65+'
           END AS age_group,
           c.prayer_type
    FROM sessions s
    JOIN hallow_users u ON u.user_id = s.user_id
    JOIN hallow_content c ON c.content_id = s.content_id
    WHERE u.age >= 18
),
counted AS (
    SELECT age_group, prayer_type, count(*) AS session_count
    FROM bucketed
    GROUP BY age_group, prayer_type
),
ranked AS (
    SELECT *, row_number() OVER (PARTITION BY age_group
                                 ORDER BY session_count DESC, prayer_type) AS age_group_rank
    FROM counted
)
SELECT age_group, prayer_type, session_count, age_group_rank
FROM ranked
WHERE age_group_rank <= 5
ORDER BY age_group, age_group_rank

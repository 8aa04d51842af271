{#- The five prayer types with the most of the given events in each age group: columns
    age_group, prayer_type, session_count, age_group_rank (1-5; ties broken by prayer_type).
    Events by users under 18, or of content the catalogue does not hold, are left out. -#}
{% macro top_prayer_types(events) %}
WITH counted AS (
    SELECT u.age_group, c.prayer_type, count(*) AS session_count
    FROM {{ events }} e
    JOIN {{ ref('stg_hallow_users') }} u ON u.user_id = e.user_id
    JOIN {{ source('lake', 'hallow_content') }} c ON c.content_id = e.content_id
    WHERE u.age_group IS NOT NULL
    GROUP BY u.age_group, c.prayer_type
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
{% endmacro %}

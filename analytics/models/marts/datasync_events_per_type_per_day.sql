-- DataSync events per type per UTC day.
SELECT dt AS day, type, count(*) AS events
FROM {{ source('lake', 'events') }}
GROUP BY dt, type
ORDER BY day, type

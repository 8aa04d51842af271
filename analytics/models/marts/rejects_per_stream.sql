-- Records the transform refused, per source, stream and reason, from PostgreSQL.
SELECT source, stream, reason, count(*) AS records,
       min(rejected_at) AS first_rejected_at, max(rejected_at) AS last_rejected_at
FROM {{ source('postgres', 'rejects') }}
GROUP BY source, stream, reason
ORDER BY source, stream, records DESC, reason

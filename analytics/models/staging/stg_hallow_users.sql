-- Hallow users with the age group the briefs report by (18-24 ... 65+); younger users have
-- none.
SELECT user_id,
       age,
       CASE
           WHEN age BETWEEN 18 AND 24 THEN '18-24'
           WHEN age BETWEEN 25 AND 34 THEN '25-34'
           WHEN age BETWEEN 35 AND 44 THEN '35-44'
           WHEN age BETWEEN 45 AND 54 THEN '45-54'
           WHEN age BETWEEN 55 AND 64 THEN '55-64'
           WHEN age >= 65 THEN '65+'
       END AS age_group
FROM {{ source('lake', 'hallow_users') }}

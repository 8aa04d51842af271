-- The Hallow brief: the five prayer types with the most sessions in each age group, where a
-- session is a user's view event of a content item (pulled or pushed, counted once).
{{ top_prayer_types("(SELECT * FROM " ~ ref('stg_hallow_content_events') ~ " WHERE event_type = 'view')") }}

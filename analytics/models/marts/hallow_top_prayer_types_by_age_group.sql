-- The five prayer types with the most events of any kind (view, like, share, ...) that
-- reference their content, in each age group.
{{ top_prayer_types(ref('stg_hallow_content_events')) }}

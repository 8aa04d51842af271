{#- The model's table, written over its one lake file. The plugin tells where the lake is
    (the DuckDB variable tributary_lake), so the bucket is set in one place: the settings. -#}
{% macro export_to_lake() %}
  {%- if execute -%}
    {%- set root = run_query("SELECT getvariable('tributary_lake')").columns[0].values()[0] -%}
    COPY {{ this }} TO '{{ root }}/{{ this.identifier }}/part-0.parquet'
      (FORMAT parquet, COMPRESSION zstd)
  {%- endif -%}
{% endmacro %}

-- Public views with the caller's rights, explicit read policies, UTC instants as timestamptz.
--
-- * Supabase's database linter (rule 0010, security_definer_view) flags views in an exposed schema
--   that run with their owner's rights: through them anon bypasses RLS.  The api_* views become
--   `security_invoker = on`, so anon reads only what the tables themselves let it read: SELECT on
--   exactly the columns the views show (column grants) and one explicit read policy per table
--   (RLS stays on everywhere; no write policy exists for anon or authenticated).
-- * Audit timestamps are instants (UTC by the project's convention) and become timestamptz.  The
--   weather's observation/forecast times (weather_hourly.ts, weather_forecast.base_ts/fcst_ts) are
--   KST wall-clock hours as KMA publishes them and stay timestamp.
-- Views pin the types of the columns they select, so they are dropped first and created again.

drop view if exists api_stations, api_ridership_hourly, api_forecasts, api_monitoring, api_models,
  api_ingest_runs;

alter table ridership_hourly alter column ingested_at type timestamptz using ingested_at at time zone 'UTC';
alter table ridership_daily alter column ingested_at type timestamptz using ingested_at at time zone 'UTC';
alter table ridership_monthly_hourly
  alter column ingested_at type timestamptz using ingested_at at time zone 'UTC';
alter table weather_hourly alter column ingested_at type timestamptz using ingested_at at time zone 'UTC';
alter table weather_forecast alter column ingested_at type timestamptz using ingested_at at time zone 'UTC';
alter table quarantine alter column quarantined_at type timestamptz using quarantined_at at time zone 'UTC';
alter table ingest_runs
  alter column started_at type timestamptz using started_at at time zone 'UTC',
  alter column finished_at type timestamptz using finished_at at time zone 'UTC';
alter table forecasts alter column created_at type timestamptz using created_at at time zone 'UTC';
alter table monitoring alter column created_at type timestamptz using created_at at time zone 'UTC';
alter table models
  alter column trained_at type timestamptz using trained_at at time zone 'UTC',
  alter column promoted_at type timestamptz using promoted_at at time zone 'UTC';
alter table pipeline_state alter column updated_at type timestamptz using updated_at at time zone 'UTC';

create view api_stations with (security_invoker = on) as
  select station_code, station_name, line, name_en from stations;
create view api_ridership_hourly with (security_invoker = on) as
  select date, hour, station_code, direction, count from ridership_hourly;
create view api_forecasts with (security_invoker = on) as
  select model_version, as_of, date, hour, station_code, direction, yhat, lo, hi from forecasts;
create view api_monitoring with (security_invoker = on) as
  select evaluated_on, metric, scope, horizon, value, n, model_version from monitoring;
create view api_models with (security_invoker = on) as
  select version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json, kind
  from models;
create view api_ingest_runs with (security_invoker = on) as
  select run_id, dataset, source, started_at, finished_at, status, rows_in, rows_inserted,
         rows_updated, rows_quarantined, data_min_date, data_max_date
  from ingest_runs;

-- what the views read, and nothing else
grant select (station_code, station_name, line, name_en) on stations to anon, authenticated;
grant select (date, hour, station_code, direction, count) on ridership_hourly to anon, authenticated;
grant select (model_version, as_of, date, hour, station_code, direction, yhat, lo, hi)
  on forecasts to anon, authenticated;
grant select (evaluated_on, metric, scope, horizon, value, n, model_version)
  on monitoring to anon, authenticated;
grant select (version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json,
              kind)
  on models to anon, authenticated;
grant select (run_id, dataset, source, started_at, finished_at, status, rows_in, rows_inserted,
              rows_updated, rows_quarantined, data_min_date, data_max_date)
  on ingest_runs to anon, authenticated;

drop policy if exists public_read on stations;
create policy public_read on stations for select to anon, authenticated using (true);
drop policy if exists public_read on ridership_hourly;
create policy public_read on ridership_hourly for select to anon, authenticated using (true);
drop policy if exists public_read on forecasts;
create policy public_read on forecasts for select to anon, authenticated using (true);
drop policy if exists public_read on monitoring;
create policy public_read on monitoring for select to anon, authenticated using (true);
drop policy if exists public_read on models;
create policy public_read on models for select to anon, authenticated using (true);
drop policy if exists public_read on ingest_runs;
create policy public_read on ingest_runs for select to anon, authenticated using (true);

revoke all on api_stations, api_ridership_hourly, api_forecasts, api_monitoring, api_models,
  api_ingest_runs from anon, authenticated;
grant select on api_stations, api_ridership_hourly, api_forecasts, api_monitoring, api_models,
  api_ingest_runs to anon, authenticated, service_role;

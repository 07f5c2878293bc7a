-- Daily Seongsu warehouse: initial schema.
-- Supabase convention (supabase/migrations/<timestamp>_<name>.sql); also applied by `seongsu db migrate`
-- to any Postgres. Every table has a natural primary key so every load is an upsert.
-- Security: Row Level Security is enabled on every table and no policy grants anything to `anon` or
-- `authenticated`: the public (Space) reads only the api_* views below, which run with the owner's
-- rights. Flows write with the service role (BYPASSRLS) or the database owner.

-- Supabase creates these roles; a plain Postgres (CI, local) gets them here so the grants below hold.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$;

create table if not exists stations (
  station_code integer primary key,
  station_name text not null,
  line text not null,
  name_en text
);

create table if not exists ridership_hourly (
  date date not null,
  hour smallint not null check (hour between 5 and 24),
  station_code integer not null,
  direction text not null check (direction in ('board', 'alight')),
  count integer not null check (count >= 0),
  source text,
  ingested_at timestamp,
  primary key (date, hour, station_code, direction)
);
create index if not exists ridership_hourly_station_date on ridership_hourly (station_code, date);

create table if not exists ridership_daily (
  date date not null,
  line text not null,
  station_name text not null,
  boardings integer not null check (boardings >= 0),
  alightings integer not null check (alightings >= 0),
  registered_on date,
  source text,
  ingested_at timestamp,
  primary key (date, line, station_name)
);

create table if not exists ridership_monthly_hourly (
  month date not null,
  line text not null,
  station_name text not null,
  clock_hour smallint not null check (clock_hour between 0 and 23),
  boardings bigint not null check (boardings >= 0),
  alightings bigint not null check (alightings >= 0),
  source text,
  ingested_at timestamp,
  primary key (month, line, station_name, clock_hour)
);

create table if not exists weather_hourly (
  station_id integer not null,
  ts timestamp not null,
  temp_c double precision,
  precip_mm double precision,
  wind_ms double precision,
  humidity_pct double precision,
  snow_cm double precision,
  cloud_tenths double precision,
  source text,
  ingested_at timestamp,
  primary key (station_id, ts)
);

create table if not exists weather_forecast (
  base_ts timestamp not null,
  fcst_ts timestamp not null,
  nx smallint not null,
  ny smallint not null,
  temp_c double precision,
  precip_mm double precision,
  pop_pct double precision,
  pty smallint,
  sky smallint,
  humidity_pct double precision,
  wind_ms double precision,
  snow_cm double precision,
  source text,
  ingested_at timestamp,
  primary key (base_ts, fcst_ts, nx, ny)
);

create table if not exists quarantine (
  table_name text not null,
  row_hash text not null,
  reason text not null,
  row_json text not null,
  source text,
  run_id text,
  quarantined_at timestamp,
  primary key (table_name, row_hash)
);

create table if not exists ingest_runs (
  run_id text primary key,
  dataset text not null,
  source text not null,
  started_at timestamp not null,
  finished_at timestamp,
  status text not null,
  rows_in bigint,
  rows_inserted bigint,
  rows_updated bigint,
  rows_quarantined bigint,
  data_min_date date,
  data_max_date date,
  raw_uri text,
  message text
);

create table if not exists forecasts (
  model_version text not null,
  as_of date not null,
  date date not null,
  hour smallint not null check (hour between 5 and 24),
  station_code integer not null,
  direction text not null check (direction in ('board', 'alight')),
  yhat double precision not null,
  lo double precision,
  hi double precision,
  created_at timestamp,
  primary key (model_version, as_of, date, hour, station_code, direction)
);

create table if not exists monitoring (
  evaluated_on date not null,
  metric text not null,
  scope text not null,
  horizon smallint not null,
  value double precision,
  n bigint,
  model_version text,
  created_at timestamp,
  primary key (evaluated_on, metric, scope, horizon)
);

create table if not exists models (
  version text primary key,
  status text not null,
  trained_at timestamp,
  promoted_at timestamp,
  data_hash text,
  data_start date,
  data_end date,
  code_version text,
  wandb_run text,
  metrics_json text
);

create table if not exists pipeline_state (
  key text primary key,
  value text,
  updated_at timestamp
);

-- Row Level Security everywhere; no policies for anon/authenticated = no direct table access.
alter table stations enable row level security;
alter table ridership_hourly enable row level security;
alter table ridership_daily enable row level security;
alter table ridership_monthly_hourly enable row level security;
alter table weather_hourly enable row level security;
alter table weather_forecast enable row level security;
alter table quarantine enable row level security;
alter table ingest_runs enable row level security;
alter table forecasts enable row level security;
alter table monitoring enable row level security;
alter table models enable row level security;
alter table pipeline_state enable row level security;

revoke all on all tables in schema public from anon, authenticated;
grant all on all tables in schema public to service_role;

-- Public, read-only views for the Space (Supabase anon key). They run with the owner's rights, so
-- they are the only window anon has; they expose no secrets and no raw payloads.
create or replace view api_stations as
  select station_code, station_name, line, name_en from stations;
create or replace view api_ridership_hourly as
  select date, hour, station_code, direction, count from ridership_hourly;
create or replace view api_forecasts as
  select model_version, as_of, date, hour, station_code, direction, yhat, lo, hi from forecasts;
create or replace view api_monitoring as
  select evaluated_on, metric, scope, horizon, value, n, model_version from monitoring;
create or replace view api_models as
  select version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json
  from models;
create or replace view api_ingest_runs as
  select run_id, dataset, source, started_at, finished_at, status, rows_in, rows_inserted,
         rows_updated, rows_quarantined, data_min_date, data_max_date
  from ingest_runs;

revoke all on api_stations, api_ridership_hourly, api_forecasts, api_monitoring, api_models,
  api_ingest_runs from anon, authenticated;
grant select on api_stations, api_ridership_hourly, api_forecasts, api_monitoring, api_models,
  api_ingest_runs to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

-- Long history (2020-2022) and daily weather.
-- 1. ridership_hourly.span_hours: the 2020-2022 Seoul Metro files have ONE late band, "23시 이후"
--    (23:00 onward). It is stored as published: hour 23 with span_hours = 2, and no hour-24 row that
--    day. Every other band covers one hour (span_hours = 1, the default, so existing rows keep their
--    meaning). Model-facing history uses span_hours = 1 rows only (no invented split).
-- 2. weather_daily: daily weather for the years without hourly KMA data: KMA ASOS daily
--    observations (provider 'kma_asos') and the Open-Meteo reanalysis (provider 'open_meteo', which is
--    NOT a KMA product).  Its ingested_at is an instant (timestamptz, naive UTC in the code) like the
--    other audit columns.  The public view showing one-hour bands only is 20261130130000.

alter table ridership_hourly
  add column if not exists span_hours smallint not null default 1;
alter table ridership_hourly drop constraint if exists ridership_hourly_span_hours_check;
alter table ridership_hourly
  add constraint ridership_hourly_span_hours_check
  check (span_hours = 1 or (span_hours = 2 and hour = 23));

create table if not exists weather_daily (
  provider text not null check (provider in ('kma_asos', 'open_meteo')),
  date date not null,
  temp_mean_c double precision,
  temp_min_c double precision,
  temp_max_c double precision,
  precip_mm double precision check (precip_mm >= 0),
  humidity_pct double precision,
  weather_code smallint,
  source text,
  ingested_at timestamptz,
  primary key (provider, date)
);
alter table weather_daily enable row level security;
revoke all on weather_daily from anon, authenticated;
grant all on weather_daily to service_role;

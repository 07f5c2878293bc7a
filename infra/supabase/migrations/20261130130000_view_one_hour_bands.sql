-- The public ridership view shows one-hour bands only (span_hours = 1).
-- The 2020-2022 rows hold the publisher's merged late band "23시 이후" (hour 23, span_hours = 2,
-- 23:00 onward); drawn as the 23-24 band it would be wrong, so the view (which the Space plots)
-- leaves it out.  The table keeps it as published.  The view runs with the caller's rights
-- (security_invoker, 20261130120000), so anon also needs SELECT on the column the filter reads.

drop view if exists api_ridership_hourly;
create view api_ridership_hourly with (security_invoker = on) as
  select date, hour, station_code, direction, count from ridership_hourly where span_hours = 1;
grant select (span_hours) on ridership_hourly to anon, authenticated;
revoke all on api_ridership_hourly from anon, authenticated;
grant select on api_ridership_hourly to anon, authenticated, service_role;

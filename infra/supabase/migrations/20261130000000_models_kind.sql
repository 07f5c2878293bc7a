-- The gate can serve a baseline (tasks.baselines) instead of a trained model: the models table says
-- which kind each registered version is.  Rows written before this are trained models (null reads
-- as "model" too: writers that do not know the column yet stay valid).
alter table models add column if not exists kind text default 'model';

create or replace view api_models as
  select version, status, trained_at, promoted_at, data_start, data_end, data_hash, metrics_json, kind
  from models;

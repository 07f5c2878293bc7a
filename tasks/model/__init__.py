"""Model: features, baselines, forecasters, the metrics, backtests, forecasting and the model
package.  No Prefect and no warehouse: this is the part ``bentos/`` imports."""

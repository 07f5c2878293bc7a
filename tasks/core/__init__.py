"""Core: what every layer shares -- settings, the runtime environment, retries, the table contracts
(schema) and the constants of the product (성수 = 211, the publication lag).  Imports nothing else
of ``tasks``."""

"""The Streamlit dashboard (`python -m ingest dashboard`, `make dashboard`): sales, data quality,
freshness and an order lookup, read only through the analytics API (docs/dashboard.md)."""

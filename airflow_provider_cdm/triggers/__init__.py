"""Airflow triggers of the CDM provider (deferrable waits in the triggerer)."""

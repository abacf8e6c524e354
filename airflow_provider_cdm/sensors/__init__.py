"""Airflow sensors of the CDM provider."""

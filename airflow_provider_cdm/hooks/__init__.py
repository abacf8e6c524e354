"""Airflow hooks of the CDM provider."""

"""Airflow operators of the CDM provider."""

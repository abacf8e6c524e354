"""The CDM client, free of Airflow except for its exception base: settings, auth, retries, typed results,
request specs and the sync transport. Import from the submodules.
"""

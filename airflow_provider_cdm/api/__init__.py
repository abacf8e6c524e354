"""Facts about the CDM API shared by the client (hook) and the emulator: paths, statuses, errors, signing.

Pure standard library and free of Airflow, so the emulator can run without it.
"""

"""Apache Airflow provider for Huawei Cloud CDM (Cloud Data Migration).

Kept free of imports: DAG files import the operator modules at every parse.
"""

__version__ = "0.1.0"

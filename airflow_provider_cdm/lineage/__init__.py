"""OpenLineage for CDM runs: dataset naming (pure data, :mod:`.naming`) and facets (:mod:`.facets`, which
needs the optional ``apache-airflow-providers-openlineage`` and is imported only when lineage is asked for)."""

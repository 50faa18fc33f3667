"""The operator's recurring jobs: quality checks, monthly settlement, the evaluation report.

Each job is plain Python over the control plane and the object store, so the Airflow DAGs in
``dags/`` and the CLI (``dataspace quality check``, ``dataspace settle``, ``dataspace report
evaluation``) run the same code.
"""

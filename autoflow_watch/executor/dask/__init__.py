"""The Dask executor: each notebook is a task on a Dask cluster, run by a worker's kernel template."""

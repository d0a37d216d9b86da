import requests
from datetime import datetime, timedelta

cutoff = datetime.now() - timedelta(days=30)
response = requests.get("http://localhost:8000/api/profiling/runs")
runs = response.json()

for run in runs:
    run_date = datetime.fromisoformat(run["created_at"])
    if run_date < cutoff:
        requests.delete(f"http://localhost:8000/api/profiling/run/{run['id']}")
        print(f"Deleted old run: {run['id']}")

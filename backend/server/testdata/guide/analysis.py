import requests
import pandas as pd

# Fetch all runs
response = requests.get("http://localhost:8000/api/profiling/runs")
runs = response.json()

# Convert to DataFrame for analysis
df = pd.DataFrame(runs)

# Find most energy-efficient runs
efficient = df.sort_values("joules_per_token").head(10)

# Calculate statistics
print(f"Average energy per token: {df['joules_per_token'].mean():.3f} J")
print(f"Most efficient model: {efficient.iloc[0]['model_name']}")

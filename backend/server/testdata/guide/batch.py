import requests

models = ["tiny-v1", "tiny-v2", "tiny-v3"]
prompts = [
    "Explain quantum computing",
    "Write a short story",
    "Solve this math problem: 2x + 5 = 15"
]

for model in models:
    for prompt in prompts:
        response = requests.post("http://localhost:8000/api/profiling/generate", json={
            "model_name": model,
            "prompt": prompt,
            "profiling_depth": "module",
            "tags": ["batch-experiment"],
            "max_length": 100
        })
        run_id = response.json()["run_id"]
        print(f"Completed: {model} - {prompt[:30]}... (run_id: {run_id})")

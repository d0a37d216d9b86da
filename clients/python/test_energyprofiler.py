"""Tests of the Python client against a real Energy Profiler server.

The Go test backend/server/pyclient_test.go starts the servers and runs
these with ENERGYPROFILER_URL set (and EP_TEST_V1, the /v1 base of a second
server whose engine answers OpenAI requests). Standard library only.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import energyprofiler  # noqa: E402


class WindowTests(unittest.TestCase):
    def setUp(self):
        self.client = energyprofiler.Client()

    def test_context_manager_with_tokens(self):
        with self.client.window("fine-tune epoch 3", tags=["train", "py"], idle_s=0.05) as w:
            total = sum(i * i for i in range(200000))
            w.tokens_out = 1500
        self.assertGreater(total, 0)
        s = w.summary
        self.assertEqual(s["run_id"], w.id)
        self.assertEqual(s["kind"], "window")
        self.assertEqual(s["status"], "completed")
        self.assertEqual(s["output_tokens"], 1500)
        self.assertEqual(s["output_tokens_source"], "given by the caller")
        self.assertIsNotNone(s["total_energy_j"]["value"])
        self.assertAlmostEqual(s["joules_per_token"]["value"], s["total_energy_j"]["value"] / 1500, places=9)
        rec = self.client.run(w.id)
        self.assertEqual(rec["run"]["kind"], "window")
        self.assertEqual(rec["run"]["model_name"], "fine-tune epoch 3")
        self.assertEqual(sorted(rec["run"]["tags"]), ["py", "train"])
        self.assertEqual([p["phase"] for p in rec["phases"]], ["window"])
        self.assertGreater(len(rec["power_samples"]), 0)

    def test_module_level_window(self):
        with energyprofiler.window("module level", tokens_in=10, tokens_out=20, idle_s=0) as w:
            pass
        self.assertEqual(w.summary["input_tokens"], 10)
        self.assertEqual(w.summary["output_tokens"], 20)

    def test_exception_stores_a_failed_window_and_goes_on(self):
        w = self.client.window("raises", idle_s=0)
        with self.assertRaises(ZeroDivisionError):
            with w:
                1 / 0
        rec = self.client.run(w.id)
        self.assertEqual(rec["run"]["status"], "failed")
        self.assertIn("ZeroDivisionError", rec["run"]["error"])

    def test_decorator_measures_every_call(self):
        @self.client.measured("evaluate", tags=["eval"], idle_s=0)
        def evaluate(x):
            return x * 2

        self.assertEqual(evaluate(21), 42)
        self.assertEqual(evaluate(1), 2)
        runs = self.client._request("GET", "/api/profiling/runs?kind=window&tag=eval")
        self.assertEqual(len(runs), 2)
        self.assertTrue(all(r["kind"] == "window" and r["model_name"] == "evaluate" for r in runs))

    def test_unknown_window(self):
        with self.assertRaises(energyprofiler.EnergyProfilerError) as cm:
            self.client.stop_window("00000000-0000-0000-0000-000000000000")
        self.assertEqual(cm.exception.status, 404)

    def test_bad_request_is_explained(self):
        with self.assertRaises(energyprofiler.EnergyProfilerError) as cm:
            self.client.open_window("x", idle_s=-1)
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("idle_s", str(cm.exception))

    def test_unreachable_server(self):
        c = energyprofiler.Client(url="http://127.0.0.1:1", timeout=5)
        with self.assertRaises(energyprofiler.EnergyProfilerError) as cm:
            c.open_window("x")
        self.assertIn("cannot reach", str(cm.exception))


class EndpointTests(unittest.TestCase):
    def test_profile_endpoint_against_our_own_v1(self):
        v1 = os.environ.get("EP_TEST_V1")
        if not v1:
            self.skipTest("EP_TEST_V1 is not set")
        s = energyprofiler.profile_endpoint(v1, "tiny", "Energy per token", max_tokens=4, chat=True, tags=["py"], idle_s=0)
        self.assertEqual(s["kind"], "server")
        self.assertEqual(s["status"], "completed")
        self.assertGreaterEqual(s["output_tokens"], 1)
        self.assertTrue(s["output_tokens_source"].startswith("reported by the server"))
        rec = energyprofiler.default_client().run(s["run_id"])
        self.assertEqual(rec["run"]["external"]["api"], "openai")
        self.assertEqual(rec["run"]["external"]["route"], "/chat/completions")
        self.assertEqual(rec["layers"], [])


if __name__ == "__main__":
    unittest.main()

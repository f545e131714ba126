{
  # The CPU probe, its own node-gyp project so that node-gyp-build finds exactly one addon per folder. It is
  # built for the plain x86-64 baseline (no -march): src/native.ts loads it before the x86-64-v3 engine.
  "targets": [
    {
      "target_name": "thinkgrad_cpu_probe",
      "sources": ["cpu_probe.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O2", "-Wall"]
    }
  ]
}

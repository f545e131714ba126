{
  # The CUDA addon's sources (cuda/binding.cc, cuda/grpo.cu) on the CPU emulator in this folder: the same kernels,
  # launches and binding, run by tests/grpo-cuda-emulated.test.ts where no GPU exists. Built by
  # scripts/build-native.mjs in a checkout (this folder is not in the npm package). The kernels reinterpret device
  # memory as 16-byte vectors, as CUDA code does: no strict aliasing.
  "targets": [
    {
      "target_name": "thinkgrad_cuda_emulated",
      "sources": ["../binding.cc", "../buffers.cc", "../binding_grpo.cc", "grpo.cc",
                  "../binding_elementwise.cc", "elementwise.cc", "adamw.cc",
                  "../binding_reduce.cc", "reduce.cc",
                  "../binding_index.cc", "index.cc",
                  "../binding_layers.cc", "softmax.cc", "rmsnorm.cc", "rope.cc",
                  "../binding_matmul.cc", "../cublaslt.cc", "gemm.cc",
                  "../binding_attention.cc", "attention.cc", "kv_cache.cc",
                  "../binding_sampling.cc", "sampling.cc",
                  "emulator.cc", "../../native/binding/args.cc", "../../native/binding/grpo_args.cc",
                  "../../native/binding/adamw_args.cc", "../../native/binding/sampling_args.cc"],
      "include_dirs": [
        ".",
        "..",
        "../../native",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "_XOPEN_SOURCE=700", "_DARWIN_C_SOURCE"],
      "cflags!": ["-fno-exceptions", "-O2", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=c++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-O2", "-fno-strict-aliasing", "-fvisibility=hidden", "-Wall",
                    "-Wno-unused-parameter", "-Wno-unknown-pragmas"],
      # nvcc contracts a * b + c into an fma (-fmad=true) and so does the CPU addon (x86-64-v3, GCC's default
      # -ffp-contract=fast): with FMA enabled here too, the math shared through native/math rounds as on both.
      "conditions": [
        ["target_arch=='x64'", {"cflags_cc": ["-mfma"]}]
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "OTHER_CPLUSPLUSFLAGS": ["-O2", "-fno-strict-aliasing", "-fvisibility=hidden", "-Wno-unknown-pragmas",
                                 "-Wno-deprecated-declarations"]
      }
    }
  ]
}

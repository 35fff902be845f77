# The shipping build: prebuildify and node-gyp-build drive node-gyp with this.
# CMakeLists.txt builds the same addon for development; both read the one list
# of sources in native/sources.json. node-addon-api is a devDependency: the
# package's install script passes its headers in FLATSTREAM_NODE_ADDON_API
# when it builds from source (docs/design.md, "Packaging").
{
  "targets": [
    {
      "target_name": "flatstream",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json');s.core.concat(s.binding).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"process.env.FLATSTREAM_NODE_ADDON_API||require('node-addon-api').include_dir\")",
        "native"
      ],
      # Pinned, identical in CMakeLists.txt and scripts/cross-win64.mjs: N-API 8,
      # C++ exceptions on (so a std::bad_alloc becomes a JS error, never an
      # abort), and an error that cannot be thrown into JS because the
      # environment is being torn down (a worker terminated mid-call) is
      # dropped instead of rethrown from the wrapper, where it would reach
      # std::terminate and abort the whole process (docs/design.md "Never
      # harm the host"; test/worker-terminate.test.ts).
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      # Never -march=native: checksums pick the CPU's best path at run time.
      "cflags": ["-fvisibility=hidden", "-O3"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fexceptions", "-O3"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}

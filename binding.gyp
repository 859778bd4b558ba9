{
  "targets": [
    {
      "target_name": "passt_native",
      "sources": [
        "native/addon.cc",
        "native/poll.cc",
        "native/tap.cc",
        "native/tapcreate.cc",
        "native/helper.cc",
        "native/sock.cc",
        "native/netns.cc",
        "native/splice.cc",
        "native/vhost.cc",
        "native/sandbox.cc",
        "native/engine.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "_GNU_SOURCE"
      ],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-O3"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17"]
    },
    {
      "target_name": "node-passt-nsholder",
      "type": "executable",
      "sources": ["native/nsholder.cc", "native/helper.cc", "native/tapcreate.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-O3", "-fno-exceptions"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fno-rtti"]
    },
    {
      "target_name": "node-passt-launch",
      "type": "executable",
      "sources": ["native/launch.cc", "native/shared-client.cc"],
      "defines": ["_GNU_SOURCE"],
      "cflags!": ["-O3"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-O3"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17"],
      "ldflags": ["-static"]
    }
  ]
}

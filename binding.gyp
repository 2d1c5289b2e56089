# node-gyp's view of the addon (node-gyp rebuild, npm rebuild, prebuildify, electron-rebuild).
# CMakeLists.txt stays the one description of sources and flags: this target compiles nothing
# itself. Its one action runs scripts/build.mjs, which builds with cmake-js in build-cmake/
# (outside build/, which `node-gyp rebuild` deletes first) and puts hexa_torch.node and
# build-info.json (the LibTorch version it was built against) in build/Release, node-gyp's
# product folder, where node-gyp-build and prebuildify look for it.
# hexa_variant: auto (HEXA_TORCH_VARIANT, else the variant of the LibTorch that
# vendor/libtorch.json records, i.e. the one the loader will load), cpu or cuda. The CUDA
# variant always lands in variants/cuda/build/Release (variants/cuda/binding.gyp builds it there
# as node-gyp's own product), so a CPU and a CUDA binary never share a folder.
{
  'variables': {
    'hexa_variant%': 'auto',
  },
  'targets': [
    {
      'target_name': 'hexa_torch',
      'type': 'none',
      'actions': [
        {
          'action_name': 'cmake_js_build',
          # The stamp is never written, so every input counts as changed and make runs the action
          # on every node-gyp build (gyp's make skips an action with no changed input even when
          # its output is missing); cmake then decides what is stale.
          'inputs': ['<(module_root_dir)/CMakeLists.txt'],
          'outputs': ['<(INTERMEDIATE_DIR)/cmake-js-always-runs.stamp'],
          'action': ['node', '<(module_root_dir)/scripts/build.mjs', '--variant', '<(hexa_variant)'],
          'message': 'hexa-torch: building the addon with cmake-js (CMakeLists.txt)',
        },
      ],
    },
  ],
}

# node-gyp's view of the CUDA variant: run node-gyp (or prebuildify) in this folder. Like the
# top-level binding.gyp it compiles nothing itself: its one action runs scripts/build.mjs with
# cmake-js (CMakeLists.txt, HEXA_VARIANT=cuda), which puts hexa_torch.node and build-info.json
# in variants/cuda/build/Release, node-gyp's product folder here.
{
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
          'inputs': ['<(module_root_dir)/../../CMakeLists.txt'],
          'outputs': ['<(INTERMEDIATE_DIR)/cmake-js-always-runs.stamp'],
          'action': ['node', '<(module_root_dir)/../../scripts/build.mjs', '--variant', 'cuda'],
          'message': 'hexa-torch: building the CUDA addon with cmake-js (CMakeLists.txt)',
        },
      ],
    },
  ],
}

// Data-parallel training (docs/distributed.md): the communicator of a rank, the world from
// torchrun's environment variables, and the launcher of local workers.
export { Communicator, distBackends, type ConnectOptions, type DistBackend } from './communicator.js';
export { worldFromEnv, type WorldEnv } from './env.js';
export { exitWithLauncher, launch, type LaunchOptions, type LaunchResult } from './launch.js';

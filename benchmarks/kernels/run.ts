// npm run bench:kernels: every fused kernel against its PyTorch peers, on the CPU and, where a
// CUDA device exists, on the GPU; one table per group, ratios measured in the same run.
import { cuda } from '../../lib/index.js';
import { environment, measureCopyBandwidth } from '../harness.js';
import { benchmark as hardViews } from './hard-views.js';
import { benchmark as losses } from './losses.js';

console.log(environment());
const devices = ['cpu', ...(cuda.isAvailable() ? ['cuda'] : [])];
for (const device of devices) {
  const copyGBs = await measureCopyBandwidth(device);
  console.log(`\n# ${device}: measured copy bandwidth (LibTorch copy_, 256 MB, read + write) ${copyGBs.toFixed(1)} GB/s`);
  await hardViews({ device: device as 'cpu', copyGBs });
  await losses({ device: device as 'cpu', copyGBs });
}

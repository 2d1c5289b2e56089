export interface LinkageReport {
  binary: string;
  torch: string;
  libraries: number;
  missing: string[];
  hasTorchCuda: boolean;
  hasCudart: boolean;
  loaded: { variant?: string; cudaBuilt?: boolean; cudaAvailable?: boolean; devices?: number; error?: string };
}
export function checkLinkage(variant: 'cpu' | 'cuda', binary?: string): LinkageReport;

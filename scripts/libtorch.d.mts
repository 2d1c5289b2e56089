// Types for the parts of libtorch.mjs that TypeScript tests import.
export const PACKAGE_ROOT: string;
export function cacheRoot(): string;
export function bootstrapDir(variant: 'cpu' | 'cuda'): string;
export function isSupported(version: string | null | undefined): boolean;

export function nodeGypPath(): string | null;
export function localNodeDir(): string | null;
export function nodeGypEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function gypRebuild(variant: 'cpu' | 'cuda'): string;

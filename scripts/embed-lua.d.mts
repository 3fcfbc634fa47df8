/** Writes src/redis/lua/scripts.generated.ts from the .lua files if its text changed; returns its path. */
export function embedLua(): string;

// Node 20 cannot start a worker on a .ts file, and workers do not inherit tsx's loader: when the
// examples run from source, a worker starts here and loads its TypeScript module (the last
// argv entry) through tsx. Compiled code never needs this.
import { tsImport } from 'tsx/esm/api';

await tsImport(process.argv.at(-1), import.meta.url);

export { instrument, type InstrumentOptions, type Instrumentation } from './otel/metrics.js';

// Rate-limit metrics for OpenTelemetry: instrument() turns what every limiter publishes into
// counters on @opentelemetry/api, for whatever SDK and exporter the app registered. Here an
// in-memory exporter stands in for OTLP or Prometheus, so the demo can print what it would send.
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { KeyedTokenBucket } from 'bucketflow';
import { instrument } from 'bucketflow/otel';

// The app's OpenTelemetry setup (NodeSDK does this part), once at start-up:
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] });
metrics.setGlobalMeterProvider(provider);
const otel = instrument(); // every limiter, on the global meter provider

const perUser = new KeyedTokenBucket({ capacity: 2, fillRate: 1 });
for (let i = 0; i < 3; i++) perUser.consume('alice');
perUser.consume('bob');

await provider.forceFlush(); // export now instead of at the next interval
for (const metric of exporter.getMetrics()[0]!.scopeMetrics[0]!.metrics) {
  for (const { attributes, value } of metric.dataPoints) {
    const labels = Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`${metric.descriptor.name} ${labels}: ${value}`);
  }
}
// bucketflow.decisions bucketflow.outcome=allowed bucketflow.limiter=KeyedTokenBucket: 3
// bucketflow.decisions bucketflow.outcome=refused bucketflow.limiter=KeyedTokenBucket: 1
// bucketflow.waiting bucketflow.limiter=KeyedTokenBucket: 0
// bucketflow.keys bucketflow.limiter=KeyedTokenBucket: 2
otel.stop();
await provider.shutdown();

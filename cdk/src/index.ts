export { LambdaLens, LambdaLensProps, LambdaLensSink, NETWORKED_SINKS, DEFAULT_METRICS } from './lambda-lens';
export { DEFAULT_THRESHOLDS, LambdaLensAlarms, functionAlarms } from './alarms';
export {
  LambdaLensLayer,
  LambdaLensArchitecture,
  LayerArnOptions,
  LayerAssetOptions,
  LayerManifestOptions,
  LayersManifest,
  LayerRequest,
  LayerVariant,
  BoundLayer,
} from './layer';
export { CATALOGUE, CatalogueMetric, MetricGroup, MetricSelection, selectMetrics } from './catalogue';

export { LambdaLens, LambdaLensProps, LambdaLensAlarms, LambdaLensSink, NETWORKED_SINKS, DEFAULT_THRESHOLDS, DEFAULT_METRICS } from './lambda-lens';
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

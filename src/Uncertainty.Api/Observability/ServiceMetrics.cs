using Prometheus;
using Uncertainty.Api.Training;

namespace Uncertainty.Api.Observability;

/// <summary>
/// The service's own Prometheus metrics (HTTP request counts and latency histograms come from
/// prometheus-net's middleware). Metrics live in prometheus-net's process-wide registry, as its
/// middleware's do; several hosts in one process (the tests) share them, so counters only ever grow.
/// </summary>
public sealed class ServiceMetrics
{
    private static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "uncertainty_inference_queue_depth", "Predictions waiting for the inference thread.");

    private static readonly Histogram MergedRequests = Metrics.CreateHistogram(
        "uncertainty_merged_batch_requests", "Requests merged into one forward pass (dynamic batching).",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });

    private static readonly Histogram MergedRows = Metrics.CreateHistogram(
        "uncertainty_merged_batch_rows", "Samples x rows of one merged forward pass.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 4, 12) });

    private static readonly Histogram PassSeconds = Metrics.CreateHistogram(
        "uncertainty_forward_pass_seconds", "Time of one merged Monte Carlo pass on the inference thread.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 18) });

    private static readonly Counter Samples = Metrics.CreateCounter(
        "uncertainty_mc_samples_total", "Monte Carlo samples computed (sum over requests of samples used); rate() gives samples per second.");

    private static readonly Counter Rejections = Metrics.CreateCounter(
        "uncertainty_rejected_requests_total", "Requests refused or abandoned by the service itself.",
        new CounterConfiguration { LabelNames = ["reason"] });

    private static readonly Counter LoadFailures = Metrics.CreateCounter(
        "uncertainty_model_load_failures_total", "Model versions that failed to load (hash, format or shape errors).");

    private static readonly Counter TrainingJobs = Metrics.CreateCounter(
        "uncertainty_training_jobs_total", "Training jobs by what happened to them: submitted, or their final state.",
        new CounterConfiguration { LabelNames = ["state"] });

    private static readonly Gauge TrainingRunning = Metrics.CreateGauge(
        "uncertainty_training_jobs_running", "Training jobs running now.");

    public void QueueLength(int length) => QueueDepth.Set(length);

    public void MergedPass(int requests, long rows, TimeSpan elapsed, long samples)
    {
        MergedRequests.Observe(requests);
        MergedRows.Observe(rows);
        PassSeconds.Observe(elapsed.TotalSeconds);
        Samples.Inc(samples);
    }

    public void Rejected(string reason) => Rejections.WithLabels(reason).Inc();

    public void ModelLoadFailed() => LoadFailures.Inc();

    public void TrainingJobSubmitted() => TrainingJobs.WithLabels("submitted").Inc();

    public void TrainingJobStarted() => TrainingRunning.Inc();

    public void TrainingJobFinished(JobState state)
    {
        if (state != JobState.Queued)
        {
            TrainingJobs.WithLabels(state.ToString().ToLowerInvariant()).Inc();
        }

        TrainingRunning.Dec();
    }
}

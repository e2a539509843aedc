using System.Globalization;
using Prometheus;
using Uncertainty.Api.Training;

namespace Uncertainty.Api.Observability;

/// <summary>
/// The service's own Prometheus metrics, per model and version where a model is known (after Triton's per-model
/// metrics: request success and failure, inference and execution counts, queue and compute durations), beside
/// prometheus-net's HTTP metrics and a few process ones (<see cref="SuppressRuntimeNoise"/>). Metrics live in
/// prometheus-net's process-wide registry, as its middleware's do; several hosts in one process (the tests) share
/// them, so counters only ever grow. Label values are bounded: model names and versions come from the store.
/// </summary>
public sealed class ServiceMetrics
{
    private static readonly string[] ModelLabels = ["model", "version"];

    // Queue waits and passes range from a tenth of a millisecond (a merged toy request) to tens of seconds (a huge chunked run).
    private static readonly double[] DurationBuckets = Histogram.ExponentialBuckets(0.0001, 2, 19);

    private static readonly Counter RequestSuccess = Metrics.CreateCounter(
        "uncertainty_inference_request_success_total", "Predictions answered with a result, by model and version.",
        new CounterConfiguration { LabelNames = ModelLabels });

    private static readonly Counter RequestFailure = Metrics.CreateCounter(
        "uncertainty_inference_request_failure_total", "Predictions for a model version answered with an error, by status class (4xx, 5xx).",
        new CounterConfiguration { LabelNames = [.. ModelLabels, "status_class"] });

    private static readonly Histogram RequestDuration = Metrics.CreateHistogram(
        "uncertainty_inference_request_duration_seconds", "Time from a prediction's validation to its answer (queue wait and compute included), by model and version.",
        new HistogramConfiguration { LabelNames = ModelLabels, Buckets = DurationBuckets });

    private static readonly Histogram QueueDuration = Metrics.CreateHistogram(
        "uncertainty_inference_queue_duration_seconds", "Time a prediction waited in the inference queue before the owner thread took it into a batch.",
        new HistogramConfiguration { LabelNames = ModelLabels, Buckets = DurationBuckets });

    private static readonly Histogram ComputeDuration = Metrics.CreateHistogram(
        "uncertainty_inference_compute_duration_seconds", "Time of one forward pass on the inference thread (a merged batch, or all chunks of a large request).",
        new HistogramConfiguration { LabelNames = ModelLabels, Buckets = DurationBuckets });

    private static readonly Counter Executions = Metrics.CreateCounter(
        "uncertainty_inference_exec_total", "Forward passes run (merged batches): with inference_rows_total, how well dynamic batching merges.",
        new CounterConfiguration { LabelNames = ModelLabels });

    private static readonly Counter Rows = Metrics.CreateCounter(
        "uncertainty_inference_rows_total", "Input rows predicted.",
        new CounterConfiguration { LabelNames = ModelLabels });

    private static readonly Counter Samples = Metrics.CreateCounter(
        "uncertainty_mc_samples_total", "Monte Carlo samples computed (sum over requests of samples used); rate() gives samples per second.",
        new CounterConfiguration { LabelNames = ModelLabels });

    private static readonly Histogram MergedRequests = Metrics.CreateHistogram(
        "uncertainty_merged_batch_requests", "Requests merged into one forward pass (dynamic batching).",
        new HistogramConfiguration { LabelNames = ModelLabels, Buckets = Histogram.ExponentialBuckets(1, 2, 10) });

    private static readonly Histogram MergedRows = Metrics.CreateHistogram(
        "uncertainty_merged_batch_rows", "Samples x rows of one forward pass.",
        new HistogramConfiguration { LabelNames = ModelLabels, Buckets = Histogram.ExponentialBuckets(1, 4, 12) });

    private static readonly Gauge Loaded = Metrics.CreateGauge(
        "uncertainty_model_loaded", "1 for each model version loaded in memory (serving, or retired and finishing its requests).",
        new GaugeConfiguration { LabelNames = ModelLabels });

    private static readonly Gauge WeightBytes = Metrics.CreateGauge(
        "uncertainty_model_weight_bytes", "Memory of each loaded version's weights (float32), counted against ModelMemoryBytes.",
        new GaugeConfiguration { LabelNames = ModelLabels });

    private static readonly Counter LoadFailures = Metrics.CreateCounter(
        "uncertainty_model_load_failures_total", "Model versions that failed to load (hash, format or shape errors), by model.",
        new CounterConfiguration { LabelNames = ["model"] });

    private static readonly Gauge QueueDepth = Metrics.CreateGauge(
        "uncertainty_inference_queue_depth", "Predictions waiting for the inference thread.");

    private static readonly Counter Rejections = Metrics.CreateCounter(
        "uncertainty_rejected_requests_total", "Requests refused or abandoned by the service itself.",
        new CounterConfiguration { LabelNames = ["reason"] });

    private static readonly Counter TrainingJobs = Metrics.CreateCounter(
        "uncertainty_training_jobs_total", "Training jobs by what happened to them: submitted, or their final state.",
        new CounterConfiguration { LabelNames = ["state"] });

    private static readonly Gauge TrainingRunning = Metrics.CreateGauge(
        "uncertainty_training_jobs_running", "Training jobs running now.");

    /// <summary>
    /// Keeps prometheus-net's process metrics (CPU, memory, GC, threads) and drops what it re-exports by default: every .NET
    /// event counter and meter (85 families a moment after start, more later; 32 of them msquic gauges) and its own debug metrics. Takes effect when
    /// called before the first scrape.
    /// </summary>
    public static void SuppressRuntimeNoise() => Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
    {
        SuppressProcessMetrics = false,
        SuppressDebugMetrics = true,
        SuppressEventCounters = true,
        SuppressMeters = true,
    });

    public void QueueLength(int length) => QueueDepth.Set(length);

    /// <summary>A prediction for <paramref name="model"/> version <paramref name="version"/> answered after <paramref name="elapsed"/>, with a result or with <paramref name="failureStatus"/>.</summary>
    public void RequestAnswered(string model, int version, TimeSpan elapsed, int? failureStatus)
    {
        var v = Label(version);
        if (failureStatus is { } status)
        {
            RequestFailure.WithLabels(model, v, status >= 500 ? "5xx" : "4xx").Inc();
        }
        else
        {
            RequestSuccess.WithLabels(model, v).Inc();
        }

        RequestDuration.WithLabels(model, v).Observe(elapsed.TotalSeconds);
    }

    /// <summary>A prediction left the queue for a batch after waiting <paramref name="waited"/>.</summary>
    public void QueueWait(string model, int version, TimeSpan waited) => QueueDuration.WithLabels(model, Label(version)).Observe(waited.TotalSeconds);

    /// <summary>One forward pass: <paramref name="requests"/> merged, <paramref name="rows"/> input rows, <paramref name="sampleRows"/> samples x rows planned, <paramref name="samples"/> samples used.</summary>
    public void Executed(string model, int version, int requests, long rows, long sampleRows, TimeSpan elapsed, long samples)
    {
        var v = Label(version);
        Executions.WithLabels(model, v).Inc();
        Rows.WithLabels(model, v).Inc(rows);
        Samples.WithLabels(model, v).Inc(samples);
        MergedRequests.WithLabels(model, v).Observe(requests);
        MergedRows.WithLabels(model, v).Observe(sampleRows);
        ComputeDuration.WithLabels(model, v).Observe(elapsed.TotalSeconds);
    }

    public void VersionLoaded(string model, int version, long weightBytes)
    {
        Loaded.WithLabels(model, Label(version)).Set(1);
        WeightBytes.WithLabels(model, Label(version)).Set(weightBytes);
    }

    /// <summary>Its network is disposed: the series go (a gauge left at 0 would pile up one series per version ever loaded).</summary>
    public void VersionUnloaded(string model, int version)
    {
        Loaded.RemoveLabelled(model, Label(version));
        WeightBytes.RemoveLabelled(model, Label(version));
    }

    public void Rejected(string reason) => Rejections.WithLabels(reason).Inc();

    public void ModelLoadFailed(string model) => LoadFailures.WithLabels(model).Inc();

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

    private static string Label(int version) => version.ToString(CultureInfo.InvariantCulture);
}
